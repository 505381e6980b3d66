"""Argument types for the commands, made from the declared kinds of vaekit.options: each rejects
a bad value with the same one-line message as a TOML key or a keyword argument would get; and
the arguments that many commands share (RUNDIR, --seed, --device), declared here once so that
they read and check the same everywhere."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from vaekit.options import TEMPERATURE, Flag, Float, Int, Kind, Option
from vaekit.train_options_training import TRAINING_OPTIONS


def argument_type(kind: Kind) -> Callable[[str], Any]:
    """An argparse `type=` that reads a value of `kind` (argparse prints its errors as one
    line, naming the flag)."""

    def value(text: str) -> Any:
        try:
            return kind.parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return value


positive_int = argument_type(Int(least=1))
positive_float = argument_type(Float(positive=True))
fraction = argument_type(Float(positive=True, below=1.0))  # a quantile, a share: in (0, 1)
temperature = argument_type(TEMPERATURE)
# What torch.Generator.manual_seed takes; beyond, a seed would fail after the model loaded.
seed = argument_type(Int(least=-(2**63), most=2**64 - 1))


def label(text: str) -> str:
    """A class: its index or, where the data named its classes, its name (resolved against
    the run's classes by `vaekit.api.model.Model.class_indices`, after it loads)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a class: its index (0, 1, ...) or its name")
    return text.strip()


class Once(argparse.Action):
    """An option given at most once: a second (--config a.toml --config b.toml) is refused,
    where argparse's last-wins left the first file unread without a word."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option}: given twice ({getattr(namespace, self.dest)}, {values}); "
                         "give one")  # fmt: skip
        setattr(namespace, self.dest, values)


def count(least: int = 1, most: int | None = None) -> Callable[[str], int]:
    """An argparse `type=` for an integer from `least` to `most`."""
    return argument_type(Int(least=least, most=most))


def label_list(text: str) -> list[str]:
    """'0', '0,3,5' or 'cat,dog' -> classes, by index or name (as `label`)."""
    try:
        return [label(part) for part in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected classes like 0 or 0,3,5 (or their names: cat,dog), got {text!r}"
        ) from None


def noise(text: str) -> str:
    """A noise spec as `vaekit.data.batches.parse_noise` reads it, checked before any work."""
    from vaekit.data.batches import parse_noise  # imports torch: only when the flag is given

    try:
        parse_noise(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def argparse_spec(option: Option, by_kind: dict[str, Any] | None = None) -> dict[str, Any]:
    """add_argument's keywords for a declared option: its type, choices, help with the
    default (and the values kinds of data give it instead, `by_kind`), and None as the
    default, so that a flag the user gave can be told apart from one left out."""
    spec: dict[str, Any] = {"default": None, "help": option.help_text(by_kind)}
    if isinstance(option.kind, Flag):
        return {**spec, "action": argparse.BooleanOptionalAction}
    if option.choices:
        return {**spec, "choices": option.choices}
    spec["type"] = argument_type(option.kind)
    if getattr(option.kind, "repeatable", False):  # each use adds its values to the list,
        spec["action"] = "extend"  # checked whole where the options are (--log a --log none:
        spec["type"] = _names  # "none" read alone as no name was dropped without a word)
    if option.metavar or option.kind.metavar:
        spec["metavar"] = option.metavar or option.kind.metavar
    return spec


def _names(text: str) -> list[str]:
    """One use of a repeatable option of names: its comma-separated names, as given (the
    uses together are checked by `checked_repeatable`)."""
    return [part.strip() for part in text.split(",")]


def checked_repeatable(given: dict[str, Any], options: Any) -> dict[str, Any]:
    """`given` (option name -> parsed value) with each repeatable option's uses, gathered
    by argparse, checked as one value: an error names the flag, as argparse's would."""
    from vaekit.errors import VaekitError

    for name, value in given.items():
        option = options[name]
        if value is not None and getattr(option.kind, "repeatable", False):
            try:
                given[name] = option.kind.check(value)
            except ValueError as err:
                raise VaekitError(f"{option.flag}: {err}") from None
    return given


# What resolve_device takes (vaekit.api.model), as `vaekit train --device` declares it with the
# training options: every command's --device reads the same, with the same default.
DEVICE_OPTION = next(option for option in TRAINING_OPTIONS if option.name == "device")
DEVICES = DEVICE_OPTION.help


def add_rundir(p: argparse.ArgumentParser, role: str = "", *, several: bool = False) -> None:
    """The RUNDIR positional of every command that reads a run: `role` adds what the command
    does with it; `several` takes two or more (as args.rundirs), for `compare`."""
    what = "two or more run directories" if several else "a run directory"
    text = f"{what} written by vaekit train" + (f": {role}" if role else "")
    p.add_argument("rundirs" if several else "rundir", nargs="+" if several else None,
                   metavar="RUNDIR", help=text)  # fmt: skip


def add_seed(
    p: argparse.ArgumentParser,
    draws: str = "every random draw",
    *,
    from_run: bool = False,
    why: str = "",
) -> None:
    """--seed, which keys the command's random draws: 0 unless given, so that the same
    command writes the same files; with `from_run` (a command that repeats what training
    drew: `eval`, `report`) the run's own seed instead, read from config.json by the api (None
    here). `why` follows the default in the help."""
    shown = "the run's own seed" if from_run else "0"
    p.add_argument("--seed", type=seed, default=None if from_run else 0, metavar="SEED",
                   help=f"seeds {draws} (default: {shown}{why})")  # fmt: skip


def add_device(p: argparse.ArgumentParser, default: str | None = None, why: str = "") -> None:
    """--device, where the command's model computes: what vaekit.api.model.resolve_device
    takes, which refuses one that is not here. The default is `vaekit train`'s (auto: the GPU
    where there is one), unless `default` says otherwise; `why` follows it in the help."""
    shown = DEVICE_OPTION.default if default is None else default
    p.add_argument("--device", default=shown, metavar="DEVICE",
                   help=f"{DEVICES} (default: {shown}{why})")  # fmt: skip


def checked_device(args: argparse.Namespace) -> str:
    """The command's --device, refused now (one line) where it is not here, so that no output
    folder is made and no data read for a device that cannot run the model."""
    from vaekit.api.model import resolve_device  # imports torch: only in a command's run

    resolve_device(args.device)
    return args.device


def load_run(args: argparse.Namespace) -> Any:
    """The model of the command's RUNDIR, on its --device (a vaekit.api.model.Model)."""
    from vaekit.api.model import load

    return load(args.rundir, args.device)
