"""`vaekit train`: train a VAE and write a run directory (or resume one)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vaekit.cli.options import Once, argparse_spec, checked_repeatable
from vaekit.options import GROUPS

HELP = "train a VAE on a dataset and write a run directory"
DESCRIPTION = """Train a VAE and write a run directory (RUNDIR):
  config.json        the full resolved config: data, model, training, versions, data checksum
  model.safetensors  the weights (saved after every epoch)
  checkpoint/        the full training state after the last finished epoch, for --resume
  metrics.jsonl      one line per epoch: train and validation neg_elbo (-ELBO = rec + kl),
                     rec and kl in nats per example (with --iw-train K also neg_iwae, the
                     -IWAE_K bound); "loss" is the bound trained on, "loss_is" names it
                     (what is minimized adds --beta, warm-up, free bits and --objective);
                     skipped_steps (a NaN or infinite loss or gradient: no update) and
                     rollbacks (the first line also first_step_rec, the untrained model's
                     rec, against which training is said to have diverged); then a
                     final line with the test split's numbers (validation and test
                     -ELBO: one posterior sample per example, as `vaekit eval
                     --iw-samples 1` gives it, also with --iw-train K)
  samples.png  reconstructions.png  curves.png

The objective is the batch mean of the per-example negative ELBO = reconstruction + KL,
with one posterior sample per example (the reparameterization trick) and the KL in closed form;
--objective tcvae, factorvae or infovae adds a penalty on the latents to what is minimized
(the metrics stay the -ELBO).

Options can also come from a TOML file (--config): its keys are the option names
(latent-dim = 16, hidden-dims = [512, 256], binarize = true, ...); flags given on the
command line win over the file."""

EPILOG = """examples:
  vaekit train                                   # conv VAE on Fashion-MNIST, 10 epochs
  vaekit train --data digits --model mlp --hidden-dims 256,128 --epochs 20 --out runs/digits
  vaekit train --data mnist --binarize --config mnist.toml --out runs/mnist
  vaekit train --data cifar10 --model resnet --channels 64,128 --likelihood logistic-mixture
  vaekit train --data fashion-mnist --binarize --model hvae --layers 2 --kl-warmup 5000
  vaekit train --data fashion-mnist --binarize --prior vamp --patience 5 --lr-schedule cosine
  vaekit train --data mnist --conditional --out runs/cvae && vaekit sample runs/cvae --label 3
  vaekit train --data mnist --binarize --objective tcvae --tc-weight 6 --latent-dim 10
  vaekit train --out runs/digits --resume --epochs 40   # continue after a crash, or train on"""


def add_train_options(
    p: argparse.ArgumentParser, *, skip: tuple[str, ...] = ()
) -> dict[str, argparse._ArgumentGroup]:
    """Every declared training option as a flag of `p` (but those named in `skip`), in the
    groups `--help` shows; the groups, by name."""
    from vaekit.kinds.base import KINDS
    from vaekit.train_options import TRAIN_OPTIONS

    # The values each kind of data gives an option in place of its default (text's KL
    # warm-up, a table's MLP, ...), shown beside the default.
    by_kind: dict[str, dict[str, Any]] = {}
    for declared in KINDS.all():
        for name, value in declared.train_defaults().items():
            by_kind.setdefault(name, {})[declared.name] = value
    groups = {name: p.add_argument_group(name) for name in GROUPS}
    for option in TRAIN_OPTIONS:
        if option.name not in skip:
            spec = argparse_spec(option, by_kind.get(option.name))
            groups[option.group].add_argument(option.flag, **spec)
    return groups


def add_parser(sub: argparse._SubParsersAction) -> None:
    from vaekit.train_options import resumable_flags

    p = sub.add_parser(
        "train",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # The flags come from the declared options. Each defaults to None here, so that a flag the
    # user gave can be told apart from one left out: flags win over --config, which wins over
    # the defaults that the help shows.
    groups = add_train_options(p)
    run_group = groups["run"]
    run_group.add_argument(
        "--config",
        metavar="FILE.toml",
        action=Once,
        help="read options from a TOML file; flags on the command line win",
    )
    run_group.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out if it is a vaekit run directory holding only vaekit's files; the "
        "old run stays until the new one has finished its first epoch, then the two trade "
        "places and only vaekit's files of the old one are removed",
    )
    run_group.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last checkpoint, with its recorded config; "
        f"only {resumable_flags()} may change (--data only for data that has moved: it must "
        "be the same data)",
    )
    run_group.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vaekit.api.options import check_resume_options, read_options_file
    from vaekit.errors import VaekitError
    from vaekit.train_options import TRAIN_OPTIONS

    options = read_options_file(args.config) if args.config is not None else {}
    given = checked_repeatable({o.name: getattr(args, o.name) for o in TRAIN_OPTIONS},
                               TRAIN_OPTIONS)  # fmt: skip
    options.update({name: value for name, value in given.items() if value is not None})
    if args.resume:
        from vaekit.api.model import resolve_device
        from vaekit.api.resume import resume
        from vaekit.api.run import load_run_config
        from vaekit.api.rundir import check_resumable
        from vaekit.training.distributed import from_env

        if not options.get("out"):
            raise VaekitError("--resume needs --out RUNDIR, the run to continue")
        if args.overwrite:
            raise VaekitError("--resume and --overwrite contradict each other: choose one")

        def check_run() -> None:
            check_resumable(Path(str(options["out"])).expanduser())
            check_resume_options(load_run_config(options["out"]), options)

        # Under torchrun each process reads its own machine's copy of the run; one that
        # fails stops them all (a machine without the run folder: the others waited for it).
        group, _ = from_env(resolve_device(options.get("device", "auto")))
        group.each(check_run)
        # The declared resumable options given (vaekit.resume takes each as a keyword).
        changes = {o.name: options[o.name] for o in TRAIN_OPTIONS
                   if o.resumable and o.name in options}  # fmt: skip
        result = resume(options["out"], **changes, progress=not args.quiet)
    else:
        from vaekit.api.train import train

        result = train(**options, overwrite=args.overwrite, progress=not args.quiet)
    from vaekit.training.distributed import is_main_process

    if is_main_process():  # under torchrun: once, by rank 0
        print_summary(result, resumed=bool(args.resume))
    return 0


def first_line(result, resumed: bool = False) -> str:
    """The summary's first line: how many epochs, how long, and why training stopped."""
    last = result.history[-1]
    seconds = sum(r["time_s"] for r in result.history)
    budget = result.config["training"].get("time_budget")
    stopped = f"--time-budget {budget:g}s" if result.stopped_by_budget else ""
    cut = last.get("cut_short")
    if cut:  # the budget ended the last epoch early
        stopped += f"; epoch {last['epoch']} cut short after {cut['steps']} of {cut['of']} steps"
    stopped = f" (stopped by {stopped})" if stopped else ""
    n = len(result.history)
    took = f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}"
    epochs = f"{n} epoch{'' if n == 1 else 's'}"
    if resumed:  # the history and its time are the whole run's, the budget this command's
        return f"the run has trained {epochs}, {took} s in all{stopped}"
    return f"trained {epochs} in {took} s{stopped}"


def print_summary(result, resumed: bool = False) -> None:
    from vaekit.evaluation.evaluate import low_kl_warning
    from vaekit.training.loop import best_epoch
    from vaekit.training.scoring import diverged_warning

    last = result.history[-1]
    print(first_line(result, resumed))
    k = last["train"].get("iwae_k")
    for split, terms in (("train", last["train"]), ("val", last.get("val")), ("test", result.test)):
        if terms:
            iwae = f"  -IWAE(K={k}) {terms['neg_iwae']:9.2f}" if k else ""
            layers = terms.get("kl_layers")
            by_layer = f" ({' + '.join(f'{v:.2f}' for v in layers)})" if layers else ""
            print(
                f"  {split:<5} -ELBO {terms['neg_elbo']:9.2f}  rec {terms['rec']:9.2f}  "
                f"kl {terms['kl']:7.2f}{by_layer}{iwae}"
            )
    best = best_epoch(result.history) if result.config["training"].get("patience") else None
    if best is not None and best != last["epoch"]:  # early stopping kept the best epoch's
        print(f"  (train and val: epoch {last['epoch']}; test: the kept weights of the best "
              f"validation epoch, {best})")  # fmt: skip
    if not result.model.vae.uses_latent:  # a language model: no latent to count or warn of
        print("  (no latent: the model is a language model, its KL 0 by design)")
    elif "active_units" in (result.latents or {}):
        lat = result.latents
        on = (
            f"{lat['active_units_examples']:,} test example"
            + ("" if lat["active_units_examples"] == 1 else "s")
            if "active_units_examples" in lat
            else "test split"
        )
        if lat["active_units"] is None:  # one test example: no variance to count them by
            print(f"  active units not counted ({on}: a variance needs two)")
        else:
            print(
                f"  active units {lat['active_units']} of {lat['latent_dim']} ({on}: variance "
                "of E_q[z] > 0.01)"
            )
    diverged = diverged_warning(result.history, result.config["training"]["lr"])
    if diverged:
        print(f"  warning: {diverged}")
    elif result.model.vae.uses_latent and low_kl_warning(result.test["kl"]):
        print(f"  warning: {low_kl_warning(result.test['kl'])}")
    units = "nats per example"
    if any(t and t.get("kl_layers") for t in (last["train"], result.test)):
        units += "; kl per layer in brackets, bottom layer first"
    if result.model.num_classes:
        units += ", conditional on the label: -log p(x|y) bounds"
    from vaekit.report.page import train_note

    note = train_note(result.model.vae, result.config)
    if note:
        units += f"; {note}"
    if k:
        units += (
            f"; training minimized -IWAE(K={k}); val and test -ELBO: one sample per example, "
            f"as `vaekit eval --iw-samples 1` gives it; train -ELBO: over each step's {k} samples"
        )
    print(f"  ({units})")
    skipped = sum(r.get("skipped_steps", 0) for r in result.history)
    rollbacks = sum(r.get("rollbacks", 0) for r in result.history)
    if skipped or rollbacks:
        print(
            f"  skipped steps (NaN or infinite loss or gradient): {skipped}; rollbacks to the "
            f"last checkpoint with a lower learning rate: {rollbacks}"
        )
    print(f"run directory: {result.path}")
    for name, path in result.pictures.items():
        print(f"  {name:<16} {path}")
