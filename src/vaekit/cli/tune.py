"""`vaekit tune`: search for a good model within a time budget (Optuna underneath)."""

from __future__ import annotations

import argparse

from vaekit.cli.options import Once, checked_repeatable
from vaekit.cli.train import add_train_options

HELP = "search for a good model within a time budget (needs vaekit[tune])"
DESCRIPTION = """Search for a good model of the data within a time budget, with Optuna: each
trial a normal run directory (SEARCH/trial-NNNN) drawn from the search space and ranked by
its validation -ELBO; weak trials are pruned after an epoch; the study is kept in
SEARCH/study.db, so a killed search continues with --resume (a trial killed mid-run is marked
"killed" and retried under a new number, continuing its run from its last finished epoch).

The space: the families this data takes, each family's own options worth searching, and
the shared ones (latent dimensions, prior, KL warm-up, learning rate, a one-layer PixelCNN
decoder or none where the data takes one, EMA or none), as declared. The training objective
only when asked (--space objective=elbo,tcvae): each objective drawn then draws its own
weight as it declares. Narrow any of it with --space or a [search] table in --config FILE.toml:
  [search]
  model = ["mlp", "conv"]        # choices
  latent-dim = "8:64:log"        # a range (":log" for a log scale)
  hidden-dims = [[512], [512, 256]]
An option given a value (--latent-dim 16, or a key outside [search]) is not searched.
Every other option of `vaekit train` (--epochs, --batch-size, ...) applies to every trial.

At the end: the trials ranked, SEARCH/search.html (the trials over time, the parameters'
importance, the best run's samples) and SEARCH/best, a link to the best run: `vaekit eval
SEARCH/best` and every other command take it as any run."""

EPILOG = """examples:
  vaekit tune --data fashion-mnist --budget 1h --epochs 10 --out search/fm
  vaekit tune --data digits --budget 10m --space model=mlp,conv --space latent-dim=4:32
  vaekit tune --out search/fm --resume                     # after a kill: what is left
  vaekit tune --out search/fm --resume --budget 30m        # or search on for 30 minutes"""

SPACE_HELP = (
    "narrow the search (repeatable): NAME=LOW:HIGH, NAME=LOW:HIGH:log or NAME=A,B,C "
    "(for a list of widths, choices separated by /: hidden-dims=512/512,256); one value "
    "fixes it"
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tune",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_train_options(p, skip=("out",))  # --out is the search folder here
    # A trial's closing work is its validation and test pass: no report unless asked.
    report = next(a for a in p._actions if "--report" in a.option_strings)
    report.help = "write each trial's RUNDIR/report.html at its end (default: off in a search)"
    search = p.add_argument_group("search")
    search.add_argument(
        "--out",
        dest="search_out",
        metavar="SEARCH",
        required=True,
        help="the search folder: study.db, trial-NNNN runs, search.html, best",
    )
    search.add_argument(
        "--budget",
        metavar="DURATION",
        help="the whole search's wall time (1h, 30m, 90s); on --resume, "
        "default: what is left of the recorded one",
    )
    search.add_argument("--space", action="append", metavar="NAME=SPEC", help=SPACE_HELP)
    search.add_argument(
        "--config",
        metavar="FILE.toml",
        action=Once,
        help="options from a TOML file, with the search space in its [search] "
        "table; flags on the command line win",
    )
    search.add_argument(
        "--trials",
        type=int,
        metavar="N",
        help="stop after N trials in all (killed and refused draws not counted)",
    )
    search.add_argument(
        "--pruner",
        choices=("median", "none"),
        help="stop weak trials after an epoch: median (Optuna's MedianPruner, "
        "once 5 trials have run, from a trial's first epoch; the default) or none",
    )
    search.add_argument(
        "--resume",
        action="store_true",
        help="continue the search in --out with its recorded data, options and space "
        "(--data: the same data, moved since; its checksum is checked)",
    )
    search.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def read_search_file(path: str) -> tuple[dict, dict]:
    """A TOML file's options (checked as `vaekit train --config` checks them) and its
    [search] table."""
    from vaekit.api.options import read_toml
    from vaekit.errors import VaekitError
    from vaekit.options import normalize_keys
    from vaekit.train_options import TRAIN_OPTIONS

    raw = read_toml(path)
    search = raw.pop("search", {})
    if not isinstance(search, dict):
        raise VaekitError(f"{path}: search: expected a table ([search])")
    options = TRAIN_OPTIONS.check(normalize_keys(raw, path), path, spell="key")
    if "out" in options:
        raise VaekitError(f"{path}: out: a search's folder is --out, and each trial's run is "
                          "made in it: leave out out from the file")  # fmt: skip
    from vaekit.api.tune_space import searchable_option

    for key in search:  # named with the file, and the nearest option suggested
        searchable_option(str(key), f"{path}: [search]")
    return options, normalize_keys(search, f"{path}: [search]")


def run(args: argparse.Namespace) -> int:
    from vaekit.api.tune import tune
    from vaekit.api.tune_space import parse_space_arg
    from vaekit.errors import VaekitError
    from vaekit.train_options import TRAIN_OPTIONS

    options, space = read_search_file(args.config) if args.config is not None else ({}, {})
    given = checked_repeatable(
        {o.name: getattr(args, o.name) for o in TRAIN_OPTIONS if o.name != "out"}, TRAIN_OPTIONS
    )
    options.update({name: value for name, value in given.items() if value is not None})
    on_line: set[str] = set()
    for text in args.space or ():
        searched = parse_space_arg(text)
        if searched.name in on_line:  # the last one silently won
            raise VaekitError(f"--space {text}: {searched.name} is given twice; keep one")
        on_line.add(searched.name)
        space[searched.name] = searched
    # A --space NAME beside the same NAME from the file: the command line wins.
    space = {k.replace("-", "_"): v for k, v in space.items()}
    if args.resume:
        moved = options.pop("data", None)  # the same data where it is now
        if options or space:
            raise VaekitError(
                "--resume continues the recorded search: give only --budget, --trials, "
                "--pruner and --data (data moved since; its options and space are recorded)"
            )
        search = tune(
            moved,
            out=args.search_out,
            budget=args.budget,
            resume_search=True,
            trials=args.trials,
            pruner=args.pruner,
            progress=not args.quiet,
            echo=print,
        )
    else:
        data = options.pop("data", None)
        search = tune(
            data,
            out=args.search_out,
            budget=args.budget,
            space=space,
            trials=args.trials,
            pruner=args.pruner,
            progress=not args.quiet,
            echo=print,
            **options,
        )
    print_table(search)
    if search.best is None:  # so that `vaekit tune ... && vaekit eval SEARCH/best` stops here
        raise VaekitError("the search has no best run: no trial ran to a score (see the states)")
    return 0


def print_table(search) -> None:
    """The trials ranked by validation -ELBO, then where the page and the best run are."""
    print(
        f"\n{'rank':>4} {'trial':>5}  {'state':<8} {'val -ELBO':>10} {'epochs':>6} "
        f"{'time (s)':>8}  parameters"
    )
    for rank, row in enumerate(search.trials, 1):
        value = "-" if row.value is None else f"{row.value:.2f}"
        seconds = "-" if row.time_s is None else f"{row.time_s:.0f}"
        params = " ".join(f"{k}={v}" for k, v in row.params.items())
        note = f"  ({row.note})" if row.note else ""
        print(
            f"{rank:>4} {row.number:>5}  {row.state:<8} {value:>10} {row.epochs or '-':>6} "
            f"{seconds:>8}  {params}{note}"
        )
    ended = "time budget" if search.stopped_by == "budget" else "trial count"
    print(f"(validation -ELBO in nats per example; the search ended at its {ended})")
    print(f"page: {search.page}")
    print(f"best: {search.best}" if search.best else "best: none (no trial ran to a score)")
