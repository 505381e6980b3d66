"""Declared options: one record per option (name, kind, default, choices, help, group), from
which a command's flags, a TOML file's keys, a function's keyword checks and config.json are
all derived.

A Kind knows how to read a value from the command line (`parse`, text in) and how to check one
given by Python or TOML (`check`, any value in); both return the value in its canonical type
(a float for a float option given as 1, a tuple for a list) or raise ValueError with a message
that reads after the option's name: "--lr: expected a positive number, got -1".

This module is plain Python (no torch): every layer may import it.
"""

from __future__ import annotations

import difflib
import math
import numbers
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaekit.errors import VaekitError

GROUPS = ("data", "model", "objective", "training", "run")
SECTIONS = ("data", "model", "training")


class Kind:
    """How one option's values are read and checked; subclasses set the rules."""

    noun = "a value"
    metavar: str | None = None

    def parse(self, text: str) -> Any:
        return self.check(text)

    def check(self, value: Any) -> Any:
        return value

    def show(self, value: Any) -> str:
        """A default as the help text shows it."""
        return "off" if value is None else str(value)


@dataclass(frozen=True)
class Int(Kind):
    """An integer >= `least` and, with `most`, <= `most`."""

    least: int = 0
    most: int | None = None
    noun = "an integer"

    def parse(self, text: str) -> int:
        try:
            return self.check(int(text))
        except ValueError as err:
            if "invalid literal" in str(err):
                raise ValueError(f"expected an integer, got {text!r}") from None
            raise

    def check(self, value: Any) -> int:
        # Any integer type (numpy's too: np.int64(1) is what an array's element is), no bool.
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise ValueError(f"expected an integer, got {value!r}")
        value = int(value)
        if value < self.least:
            what = "a positive integer" if self.least == 1 else f"an integer >= {self.least}"
            if self.most is not None:
                what = f"an integer from {self.least} to {self.most}"
            raise ValueError(f"expected {what}, got {value}")
        if self.most is not None and value > self.most:
            raise ValueError(f"expected at most {self.most}, got {value}")
        return value


@dataclass(frozen=True)
class Float(Kind):
    """A finite number: > 0 with `positive`, else >= 0; `below` an exclusive upper bound."""

    positive: bool = False
    below: float = math.inf

    def parse(self, text: str) -> float:
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
        return self.check(number)

    def check(self, value: Any) -> float:
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        value = float(value)
        low_ok = value > 0 if self.positive else value >= 0
        if not (low_ok and value < self.below and math.isfinite(value)):
            if self.below < math.inf:
                low = "(0" if self.positive else "[0"  # 0 itself refused where positive
                raise ValueError(f"expected a number in {low}, {self.below:g}), got {value:g}")
            what = "a positive number" if self.positive else "a number >= 0"
            raise ValueError(f"expected {what}, got {value:g}")
        return value


# A sampling temperature: past about 1e6 the prior's draws leave float32's range (NaN samples).
TEMPERATURE = Float(positive=True, below=1e6)


@dataclass(frozen=True)
class Text(Kind):
    """A string; with `choices`, one of them."""

    choices: tuple[str, ...] = ()

    def check(self, value: Any) -> str:
        if isinstance(value, Path):
            value = str(value)
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        if self.choices and value not in self.choices:
            raise ValueError(f"expected one of {', '.join(self.choices)}, got {value!r}")
        return value


@dataclass(frozen=True)
class Source(Kind):
    """A dataset: a name or a path (text), or, from Python only, an array of images or a
    dataset object (a torch Dataset, a DataFrame, a Hugging Face dataset: anything indexable
    with a length, which vaekit.data.objects recognizes or refuses when it is opened)."""

    def check(self, value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, str) or hasattr(value, "shape"):
            return value
        indexable = hasattr(value, "__getitem__") and hasattr(value, "__len__")
        if indexable and type(value).__module__ != "builtins":  # a list is no dataset
            return value
        shown = repr(value)
        if len(shown) > 80:  # a list of 1,797 images printed 1 MB of message
            shown = f"a {type(value).__name__}" + (f" of {len(value):,} items" if hasattr(
                value, "__len__") else "")  # fmt: skip
            if isinstance(value, list | tuple):
                shown += " (a list of images: np.stack(it) makes it an array)"
        raise ValueError(
            f"expected a dataset name, a path, an array or a dataset object, got {shown}"
        )


@dataclass(frozen=True)
class Flag(Kind):
    def parse(self, text: str) -> bool:
        raise ValueError("a flag takes no value")

    def check(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value

    def show(self, value: Any) -> str:
        return "on" if value else "off"


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass(frozen=True)
class Duration(Kind):
    """A positive length of time, held in seconds: "90s", "15m", "1h30m" or "1.5h" on the
    command line or in TOML; a number (seconds) from Python or TOML."""

    metavar = "DURATION"

    def parse(self, text: str) -> float:
        return self.check(text)

    def check(self, value: Any) -> float:
        if isinstance(value, str):
            value = _seconds(value)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"expected a duration like 90s, 15m or 1h30m, got {value!r}")
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"expected a positive duration, got {value:g} s")
        return float(value)

    def show(self, value: Any) -> str:
        return "off" if value is None else f"{value:g}s"


def _seconds(text: str) -> float:
    """ "1h30m" -> 5400.0; a bare number is seconds."""
    rest, total = text.strip().lower(), 0.0
    try:
        if rest and rest[-1].isdigit():
            return float(rest)
        while rest:
            end = next(i for i, ch in enumerate(rest) if ch.isalpha())
            total += float(rest[:end]) * _UNITS[rest[end]]
            rest = rest[end + 1 :]
    except (ValueError, KeyError, StopIteration):
        raise ValueError(f"expected a duration like 90s, 15m or 1h30m, got {text!r}") from None
    return total


@dataclass(frozen=True)
class Widths(Kind):
    """Positive integers: "32,64" on the command line, [32, 64] in Python or TOML."""

    metavar = "W[,W...]"

    def parse(self, text: str) -> tuple[int, ...]:
        try:
            values = [int(part) for part in text.split(",")]
        except ValueError:
            raise ValueError(
                f"expected comma-separated integers like 32,64, got {text!r}"
            ) from None
        return self.check(values)

    def check(self, value: Any) -> tuple[int, ...]:
        if not isinstance(value, list | tuple) or not value:
            raise ValueError(f"expected a list of widths, got {value!r}")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ValueError(f"expected a list of integers, got {list(value)!r}")
        if min(value) < 1:
            raise ValueError(f"widths must be positive, got {list(value)!r}")
        return tuple(value)

    def show(self, value: Any) -> str:
        return ",".join(map(str, value))


@dataclass(frozen=True)
class Names(Kind):
    """Non-empty names: "a,b" on the command line, ["a", "b"] in Python or TOML. With `of`,
    each one of those; with `repeatable`, the flag may also be given several times, each
    adding its names (--log tensorboard --log mlflow). With `none`, the name "none" alone
    is the empty list (--log none: to turn off on --resume what the run recorded)."""

    of: tuple[str, ...] = ()
    repeatable: bool = False
    none: bool = False
    metavar = "NAME[,NAME...]"

    def parse(self, text: str) -> tuple[str, ...]:
        return self.check([part.strip() for part in text.split(",")])

    def check(self, value: Any) -> tuple[str, ...]:
        if self.none and isinstance(value, list | tuple) and (not value or "none" in value):
            if len(value) > 1:
                raise ValueError(f"none is given with other names in {list(value)!r}")
            return ()  # ["none"], or the empty list it reads as
        if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
            raise ValueError(f"expected a list of names, got {value!r}")
        if not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"expected non-empty names, got {list(value)!r}")
        if len(set(value)) != len(value):
            raise ValueError(f"a name is given twice in {list(value)!r}")
        unknown = [v for v in value if self.of and v not in self.of]
        if unknown:
            names = " or ".join((*self.of, "none") if self.none else self.of)
            raise ValueError(f"expected {names}, got {unknown[0]!r}")
        return tuple(value)

    def show(self, value: Any) -> str:
        if self.none and value is not None and not value:
            return "none"
        return "all" if value is None else ",".join(value)


@dataclass(frozen=True)
class Option:
    """One declared option.

    name: the Python keyword (latent_dim); the flag is --latent-dim and a TOML key may use
        either spelling. kind: how values are read and checked. default: the value when not
        given (None where `optional`: "off", or "decided from the data"). group: where the
        help lists it. section/key: where config.json records it (section None: nowhere).
        resumable: may differ when a run is resumed.
    """

    name: str
    kind: Kind
    default: Any
    help: str
    group: str
    section: str | None = None
    key: str | None = None
    optional: bool = False
    resumable: bool = False
    metavar: str | None = None
    show_default: bool = True

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def config_key(self) -> str:
        return self.key or self.name

    @property
    def choices(self) -> tuple[str, ...]:
        return getattr(self.kind, "choices", ())

    def check(self, value: Any) -> Any:
        """The value in its canonical type, or ValueError."""
        if value is None and self.optional:
            return None
        return self.kind.check(value)

    def help_text(self, by_kind: dict[str, Any] | None = None) -> str:
        """The help with the default, and the values kinds of data give it instead
        (`by_kind`: {kind name: value})."""
        if not self.show_default:
            return self.help
        instead = "".join(f"; {k}: {self.kind.show(v)}" for k, v in (by_kind or {}).items())
        return f"{self.help} (default: {self.kind.show(self.default)}{instead})"


class OptionSet:
    """A command's declared options, by name: `options`, and those `later` returns when the
    set is used (the options installed packages declare, looked up only then; asked again at
    each use, so a package registered since is seen)."""

    def __init__(
        self, options: Iterable[Option], later: Callable[[], Iterable[Option]] | None = None
    ) -> None:
        self.declared: dict[str, Option] = {}
        for option in options:
            self._add(self.declared, option, "is declared twice")
        self.later = later

    @staticmethod
    def _add(into: dict[str, Option], option: Option, twice: str) -> None:
        if option.name in into:
            raise ValueError(f"option {option.name!r} {twice}")
        if option.group not in GROUPS or option.section not in (*SECTIONS, None):
            raise ValueError(f"option {option.name!r}: unknown group or section")
        into[option.name] = option

    @property
    def options(self) -> dict[str, Option]:
        if self.later is None:
            return self.declared
        found = dict(self.declared)
        for option in self.later():
            if found.get(option.name) == option:
                continue  # one declaration reached twice (a built-in family's, declared)
            try:
                self._add(found, option, "is declared twice: rename one of them")
            except ValueError as err:
                raise VaekitError(str(err)) from None
        return found

    def __iter__(self):
        return iter(self.options.values())

    def __contains__(self, name: object) -> bool:
        return name in self.declared or name in self.options

    def __getitem__(self, name: str) -> Option:  # a declared name: no installed package read
        return self.declared[name] if name in self.declared else self.options[name]

    def defaults(self) -> dict[str, Any]:
        return {o.name: o.default for o in self}

    def in_section(self, section: str) -> list[Option]:
        return [o for o in self if o.section == section]

    def check(self, values: Mapping[str, Any], where: str, spell: str = "flag") -> dict[str, Any]:
        """Each value checked against its declaration; an unknown name or a bad value is a
        VaekitError naming it (as a --flag, as a key with spell="key", or as a Python keyword,
        name=, with spell="keyword")."""
        out, options = {}, self.options
        for name, value in values.items():
            option = options.get(name)
            if option is None:
                raise VaekitError(f"{where}: unknown option {name!r}{self.suggest(name)}")
            try:
                out[name] = option.check(value)
            except ValueError as err:
                shown = {"flag": option.flag, "keyword": f"{name}="}.get(spell, name)
                raise VaekitError(f"{where}: {shown}: {err}") from None
        return out

    def suggest(self, name: str, dashes: bool = False) -> str:
        """The hint after an unknown option `name` (given with _): the nearest option, spelled
        with - where `dashes` (a TOML key written so); "" where none is near."""
        close = difflib.get_close_matches(name, list(self.options), n=1)
        if not close:
            return ""
        return f" (did you mean {close[0].replace('_', '-') if dashes else close[0]!r}?)"


def normalize_keys(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """TOML and CLI spellings (latent-dim) -> Python names (latent_dim). Two spellings of one
    option are refused, naming both: which one wins would be a guess."""
    out: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name in spelled:
            raise VaekitError(f"{where}: {spelled[name]!r} and {key!r} both set {name!r}; keep one")
        spelled[name], out[name] = str(key), value
    return out


def describe(options: Sequence[Option], indent: int = 8) -> str:
    """The options as docstring text: "name = default: help", wrapped."""
    pad = " " * indent
    return "\n".join(
        textwrap.fill(
            f"{o.name} = {o.default!r}: {o.help}",
            width=96,
            initial_indent=pad,
            subsequent_indent=pad + "    ",
        )
        for o in options
    )
