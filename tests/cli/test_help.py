"""Every command explains itself: a description for each (sub)command and a help line for
each of its arguments, found by walking the parser the `vaekit` command builds."""

import argparse
import re

import pytest

from tests.cli.test_cli import vaekit
from vaekit.cli.main import build_parser, subcommands

PARSER = build_parser()
COMMANDS = {p.prog: p for p in subcommands(PARSER)}
# The commands that declare the training options (train, and tune, which passes them on).
TRAINS = ("vaekit train", "vaekit tune")


def test_the_walk_finds_every_command():
    names = {prog.removeprefix("vaekit ") for prog in COMMANDS}
    assert {"train", "eval", "sample", "reconstruct", "interpolate", "traverse", "embed",
            "denoise", "uncertainty", "anomaly", "data"} <= names  # fmt: skip
    assert {"data list", "data fetch", "data info", "data prepare"} <= names


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_every_command_has_a_description(prog):
    description = COMMANDS[prog].description
    assert description and description.strip(), prog


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_every_argument_has_help(prog):
    for action in COMMANDS[prog]._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue  # its choices are walked themselves; their summaries are below
        name = "/".join(action.option_strings) or action.metavar or action.dest
        assert action.help and action.help.strip() and action.help != argparse.SUPPRESS, (
            f"{prog}: {name} has no help"
        )


@pytest.mark.parametrize("prog", ["vaekit", *(p for p in sorted(COMMANDS) if p.count(" ") == 1)])
def test_every_subcommand_has_a_summary_line(prog):
    """`vaekit --help`'s list of commands (and `vaekit data --help`'s): each with its line."""
    parser = PARSER if prog == "vaekit" else COMMANDS[prog]
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in groups:
        summaries = {a.dest: a.help for a in action._choices_actions}
        assert set(summaries) == set(action.choices) and all(summaries.values()), prog
    assert groups or prog != "vaekit"


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_help_prints_and_exits_zero(prog, capsys):
    assert vaekit(*prog.split()[1:], "--help") == 0
    assert capsys.readouterr().out.startswith("usage: " + prog)


def test_anomaly_score_choices_are_the_detectors_scores():
    # The CLI lists them by hand, so that --help need not import torch; they must not drift.
    from vaekit.apps.anomaly import SCORES

    (score,) = [a for a in COMMANDS["vaekit anomaly"]._actions if "--score" in a.option_strings]
    assert tuple(score.choices) == SCORES
    # each named in the "scores:" paragraph with what it is: "elbo (-ELBO), nll (...), ..."
    scores = COMMANDS["vaekit anomaly"].description.split("scores:", 1)[1]
    assert all(re.search(rf"(^|, ){name} \(", scores.strip()) for name in SCORES), scores


def _help_of(prog: str, flag: str) -> str:
    (action,) = [a for a in COMMANDS[prog]._actions if flag in a.option_strings]
    return action.help


def test_train_data_help_names_every_kind_of_data():
    from vaekit.data.rows import TABLE_SUFFIXES
    from vaekit.kinds.text.data_vocab import TEXT_SUFFIXES

    data = _help_of("vaekit train", "--data")
    for kind in (*TABLE_SUFFIXES, *TEXT_SUFFIXES, ".wav", ".npy", "PNG/JPEG", "vaekit data list"):
        assert kind in data, kind
    # the dataset names it lists are the registry's, every one
    from vaekit.data.datasets import open_dataset  # noqa: F401 (registers the datasets)
    from vaekit.data.registry import dataset_names

    listed = re.search(r"a dataset name \(([^:]*):", " ".join(data.split())).group(1)
    assert sorted(listed.split(", ")) == dataset_names()


def test_sample_help_names_every_kind_of_output():
    description = COMMANDS["vaekit sample"].description
    for kind, written in (("images", "PNG"), ("table", "CSV"), ("audio", "WAV"), ("text", ".txt")):
        assert kind in description and written in description, kind


def test_train_help_shows_the_values_each_kind_of_data_uses_instead_of_a_default():
    """Text warms its KL up over 2,000 steps and floors it at 0.1 nats, tables, audio and
    series learn a Gaussian scale starting at 1: each option's help says so beside the
    default, from the values the kinds' models take (their model part's DEFAULTS)."""
    from vaekit.kinds.base import KINDS

    for declared in KINDS.all():
        for name, value in declared.part("model").DEFAULTS.items():
            flag = "--" + name.replace("_", "-")
            text = " ".join(_help_of("vaekit train", flag).split())
            assert f"; {declared.name}: {value}" in text, (flag, text)
    assert "(default: 0; text: 2000)" in " ".join(_help_of("vaekit train", "--kl-warmup").split())


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_no_argument_states_its_default_twice(prog):
    for action in COMMANDS[prog]._actions:
        text = " ".join((action.help or "").split())
        said = text.count("(default") + text.count("by default")
        assert said <= 1, f"{prog} {action.option_strings}: {text}"


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["train", "--epohcs", "3"], "train: unrecognized arguments: --epohcs 3; did you mean "
         "--epochs? (see `vaekit train --help`)"),
        (["sample", "RUNDIR", "--bogus"], "(see `vaekit sample --help`)"),
        (["data", "info", "x", "--bogus"], "(see `vaekit data info --help`)"),
        (["--bogus", "train"], "(see `vaekit --help`)"),
        # No abbreviations: `--over` would have replaced the user's file as --overwrite.
        (["sample", "RUNDIR", "-o", "u.png", "--over"], "unrecognized arguments: --over; did "
         "you mean --overwrite?"),
        (["train", "--epoch", "3"], "unrecognized arguments: --epoch 3; did you mean --epochs?"),
    ],
)  # fmt: skip
def test_an_unknown_argument_points_to_its_command_help(args, where, capsys):
    assert vaekit(*args) == 2
    err = capsys.readouterr().err
    assert where in err and err.count("\n") == 1, err


def _shared(flag: str) -> dict[str, argparse.Action]:
    """Each command's action for `flag` ("RUNDIR" for the run directory positional)."""
    found = {}
    for prog, parser in COMMANDS.items():
        for action in parser._actions:
            if flag in action.option_strings or (
                flag == "RUNDIR" and not action.option_strings and action.metavar == flag
            ):
                found[prog] = action
    return found


def _seed_bounds_hold(kind) -> bool:
    # What torch.Generator.manual_seed takes, and nothing beyond.
    accepted = [kind(str(n)) for n in (0, -(2**63), 2**64 - 1)]
    for beyond in (str(2**64), str(-(2**63) - 1), "1.5", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            kind(beyond)
    return accepted == [0, -(2**63), 2**64 - 1]


def test_rundir_is_declared_once_for_every_command():
    found = _shared("RUNDIR")
    names = {prog.removeprefix("vaekit ") for prog in found}
    assert {"eval", "sample", "reconstruct", "interpolate", "traverse", "embed", "denoise",
            "uncertainty", "anomaly", "report", "compare", "serve", "export"} <= names  # fmt: skip
    for prog, action in found.items():
        assert action.dest in ("rundir", "rundirs") and action.type is None, prog
        several = action.nargs == "+"
        assert action.dest == ("rundirs" if several else "rundir") and action.nargs in (None, "+")
        head = "two or more run directories" if several else "a run directory"
        assert re.fullmatch(f"{head} written by vaekit train(: .+)?", action.help), prog


def test_seed_is_declared_once_for_every_command():
    from vaekit.cli import options

    found = _shared("--seed")
    assert {"eval", "sample", "denoise", "uncertainty", "anomaly", "report", "compare",
            "train"} <= {prog.removeprefix("vaekit ") for prog in found}  # fmt: skip
    for prog, action in found.items():
        text = " ".join(action.help.split())
        if prog in TRAINS:  # declared with the training options, for TOML and the API
            assert re.fullmatch(r"seeds .+ \(default: 0\)", text) and action.default is None
            assert _seed_bounds_hold(action.type)
            continue
        assert action.type is options.seed and action.metavar == "SEED", prog
        shown = "0" if action.default == 0 else "the run's own seed"
        assert action.default in (0, None), prog
        assert re.fullmatch(rf"seeds .+ \(default: {shown}.*\)", text), (prog, text)
    assert _seed_bounds_hold(options.seed)


def test_device_is_declared_once_for_every_command():
    from vaekit.cli.options import DEVICES

    found = _shared("--device")
    assert {"eval", "sample", "reconstruct", "interpolate", "traverse", "embed", "denoise",
            "uncertainty", "anomaly", "report", "compare", "serve", "export",
            "train"} <= {prog.removeprefix("vaekit ") for prog in found}  # fmt: skip
    for prog, action in found.items():
        text = " ".join(action.help.split())
        default = "auto" if prog in TRAINS else action.default  # train's is None here
        # train's default everywhere, but export's: it traces on the CPU, and says why.
        assert default == ("cpu" if prog == "vaekit export" else "auto"), prog
        why = ": the graphs are traced there, .+" if prog == "vaekit export" else ""
        assert re.fullmatch(re.escape(f"{DEVICES} (default: {default}") + f"{why}\\)", text), (
            prog,
            text,
        )
        if prog not in TRAINS:
            assert action.type is None and action.metavar == "DEVICE", prog


def test_tune_help_says_a_trial_writes_no_report_by_default():
    assert "default: off in a search" in _help_of("vaekit tune", "--report")
    assert "(default: on)" in " ".join(_help_of("vaekit train", "--report").split())
