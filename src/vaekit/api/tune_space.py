"""The search space of `vaekit tune`: what each trial draws, read from the declarations.

The families are searched among those the data takes (the registry, vaekit.kinds.base); each
family says which of its own options are worth searching and over which range
(`Family.search`); the options every family shares are searched as
vaekit.train_options.SEARCH says. The training objective is not searched unless asked
(`--space objective=elbo,tcvae`: the search ranks by the validation -ELBO, which the other
objectives do not minimize); where it is searched or given, the objective's own options are
drawn as it declares (`Component.search`, vaekit.components), and only in the trials that
draw it; likewise the PixelCNN decoder's kernel and width, only in the trials that draw the
decoder (NEEDS_ABOVE_ZERO). The user narrows (or widens) any of it, in a TOML file's
`[search]` table, on the command line (`--space latent-dim=8:64`) or from Python, and an
option given a fixed value is not searched.

A range is written, in a declaration, as a list of values to choose from, or (low, high), or
(low, high, "log"), or "*" for every value a registry holds (the priors); in TOML or Python
also as the text "LOW:HIGH" or "LOW:HIGH:log", and a single value fixes the option. On the
command line: NAME=LOW:HIGH[:log], or NAME=A,B,C for choices (for a list of widths, choices
are separated by "/": hidden-dims=512/512,256).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vaekit.components import OBJECTIVES
from vaekit.errors import VaekitError
from vaekit.kinds.base import family, family_names
from vaekit.options import Float, Int, Widths
from vaekit.train_options import (
    CHOOSING,
    NEEDS_ABOVE_ZERO,
    SEARCH,
    TRAIN_OPTIONS,
    unused_option,
)

# What a hierarchical family does not take (vaekit.kinds.base.Family.hierarchical): its own
# hierarchical prior stands in for these, and it trains on the ELBO alone, so its trials do
# not draw them.
NOT_HIERARCHICAL = ("prior", "prior_components", "flow_steps", "autoregressive", "objective")
# Options no search may draw: where the data is and where the runs go, and each trial's time
# (the search's budget sets it).
UNSEARCHABLE_GROUPS = ("data", "run")
UNSEARCHABLE = ("time_budget",)
MAX_REFUSED = 20  # infeasible draws in a row before the space is declared empty


@dataclass(frozen=True)
class Range:
    """One searched option: `choices` to pick from, or numbers from `low` to `high` (both
    included; drawn on a log scale with `log`), integers where the option is an integer."""

    name: str
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False

    @property
    def integer(self) -> bool:
        return isinstance(TRAIN_OPTIONS[self.name].kind, Int)

    def labels(self) -> list[Any]:
        """The choices as Optuna stores them (a number or a text: a list of widths as
        "512,256")."""
        return [_label(choice) for choice in self.choices]

    def suggest(self, trial: Any, param: str) -> Any:
        """The value an Optuna trial draws for this option, under the parameter name `param`."""
        if self.choices:
            return self.value_of(trial.suggest_categorical(param, self.labels()))
        if self.integer:
            return trial.suggest_int(param, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(param, self.low, self.high, log=self.log)

    def value_of(self, drawn: Any) -> Any:
        """The option's value for what Optuna recorded (a choice's label, or a number)."""
        if self.choices:
            return self.choices[self.labels().index(drawn)]
        return drawn

    def shown(self) -> str:
        if self.choices:
            return ", ".join(map(str, self.labels()))
        return f"{self.low:g}..{self.high:g}{' (log)' if self.log else ''}"

    def to_json(self) -> dict[str, Any]:
        if self.choices:
            return {"choices": [list(c) if isinstance(c, tuple) else c for c in self.choices]}
        return {"low": self.low, "high": self.high, "log": self.log}

    @classmethod
    def from_json(cls, name: str, record: dict[str, Any]) -> Range:
        if "choices" in record:
            option = TRAIN_OPTIONS[name]
            return cls(name, tuple(option.check(c) for c in record["choices"]))
        return cls(name, low=record["low"], high=record["high"], log=record["log"])


def of_its_choices(options: Mapping[str, Any]) -> dict[str, Any]:
    """`options` less those that would change nothing beside their choices (unused_option: a
    value fixed for the trials of one objective or prior, in a search that also draws others;
    --ar-width fixed where a trial draws no PixelCNN). The likelihood is judged only where
    `options` names one: a kind of data chooses its own (and vaekit.train refuses the rest)."""
    chosen = {n: TRAIN_OPTIONS[n].default for n in (*CHOOSING, *NEEDS_ABOVE_ZERO.values())}
    chosen = {**chosen, **options}
    if "likelihood" not in options:
        del chosen["likelihood"]
    return {n: v for n, v in options.items() if unused_option(chosen, [n]) is None}


def _label(value: Any) -> Any:
    return ",".join(map(str, value)) if isinstance(value, tuple) else value


@dataclass
class Space:
    """What a trial draws: the family, the shared options, then the family's own ones (as
    the Optuna parameters "model", "latent_dim", ..., and "mlp.hidden_dims": one family's
    widths are not another's)."""

    model: Range
    shared: dict[str, Range] = field(default_factory=dict)
    own: dict[str, dict[str, Range]] = field(default_factory=dict)
    # The objective's own options, by objective ("tcvae.tc_weight"), drawn where it is; and
    # the objective of the trials that draw none (the one given, or the default).
    by_objective: dict[str, dict[str, Range]] = field(default_factory=dict)
    objective: str = TRAIN_OPTIONS["objective"].default
    # By family, the shared options it takes at their default value only (vqvae: no --prior,
    # no --autoregressive), or has no use for (`Family.ignores`): its trials do not draw
    # them, rather than be refused or draw what changes nothing.
    defaults_only: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Shared options drawn only in the trials that draw another above 0 (NEEDS_ABOVE_ZERO):
    # {"ar_kernel": "autoregressive"}; an option whose other is given a value is not here.
    where: dict[str, str] = field(default_factory=dict)

    def sample(self, trial: Any) -> dict[str, Any]:
        """The options of one trial, drawn by `trial` (an optuna.Trial)."""
        chosen = self.model.suggest(trial, "model")
        options = {"model": chosen}
        left_out = self.defaults_only.get(chosen, ())
        if family(chosen).hierarchical:
            left_out += NOT_HIERARCHICAL
        for name, searched in self.shared.items():
            on = self.where.get(name)
            if name not in left_out and (on is None or options.get(on, 0) > 0):
                options[name] = searched.suggest(trial, name)
        for name, searched in self.own.get(chosen, {}).items():
            options[name] = searched.suggest(trial, f"{chosen}.{name}")
        objective = options.get("objective", self.objective)
        for name, searched in self.by_objective.get(objective, {}).items():
            options[name] = searched.suggest(trial, f"{objective}.{name}")
        return options

    def searched(self) -> set[str]:
        """The names of the options the trials draw (the family always: the space holds it)."""
        own = [n for ranges in (*self.own.values(), *self.by_objective.values()) for n in ranges]
        return {"model", *self.shared, *own}

    def trial_options(self, fixed: Mapping[str, Any], drawn: Mapping[str, Any]) -> dict[str, Any]:
        """A trial's whole options: the fixed ones and the drawn ones, less the options of
        objectives other than the trial's (`--tc-weight 4 --space objective=elbo,tcvae` sets
        the weight of the tcvae trials only)."""
        return of_its_choices({**fixed, **drawn})

    def options_of(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """A finished trial's options, from the parameters Optuna recorded for it."""
        options = {}
        for param, drawn in params.items():
            owner, _, name = param.rpartition(".")
            if owner:
                searched = {**self.by_objective.get(owner, {}), **self.own.get(owner, {})}[name]
            else:
                searched = self.ranges()[param]
            options[name or param] = searched.value_of(drawn)
        return options

    def ranges(self) -> dict[str, Range]:
        return {"model": self.model, **self.shared}

    def lines(self) -> list[str]:
        """The space as text, one option a line ("latent_dim: 8..64 (log)")."""
        out = [
            f"{name}: {r.shown()}"
            + (f" (where {self.where[name]} > 0)" if name in self.where else "")
            for name, r in self.ranges().items()
        ]
        for owner, ranges in (self.own | self.by_objective).items():
            out += [f"{owner}.{name}: {r.shown()}" for name, r in ranges.items()]
        return out

    def to_json(self) -> dict[str, Any]:
        def owned(by: dict[str, dict[str, Range]]) -> dict[str, Any]:
            return {o: {n: r.to_json() for n, r in rs.items()} for o, rs in by.items()}

        return {
            "model": self.model.to_json(),
            "shared": {n: r.to_json() for n, r in self.shared.items()},
            "own": owned(self.own),
            "by_objective": owned(self.by_objective),
            "objective": self.objective,
            "defaults_only": {f: list(names) for f, names in self.defaults_only.items()},
            "where": self.where,
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Space:
        def owned(by: dict[str, Any]) -> dict[str, dict[str, Range]]:
            return {o: {n: Range.from_json(n, r) for n, r in rs.items()} for o, rs in by.items()}

        return cls(
            Range.from_json("model", record["model"]),
            {n: Range.from_json(n, r) for n, r in record["shared"].items()},
            owned(record["own"]),
            # A search begun before objectives were searched has neither key.
            owned(record.get("by_objective", {})),
            record.get("objective", TRAIN_OPTIONS["objective"].default),
            # (nor this key: such a search goes on drawing every shared option)
            {f: tuple(names) for f, names in record.get("defaults_only", {}).items()},
            record.get("where", {}),  # (nor this one, nor any option it names)
        )


def searchable_option(name: str, where: str) -> Any:
    """The declared option `name` (either spelling) that a search may draw."""
    key = name.strip().replace("-", "_")
    if key not in TRAIN_OPTIONS:
        hint = TRAIN_OPTIONS.suggest(key, dashes="-" in name)
        raise VaekitError(f"{where}: unknown option {name!r}{hint}")
    option = TRAIN_OPTIONS[key]
    if option.group in UNSEARCHABLE_GROUPS or key in UNSEARCHABLE:
        raise VaekitError(f"{where}: {option.flag} cannot be searched (give it a fixed value)")
    return option


def _range(option: Any, low: Any, high: Any, log: bool, where: str, parse: bool) -> Range:
    """A numeric range, its ends checked as the option's values."""
    if not isinstance(option.kind, Int | Float):
        raise VaekitError(f"{where}: {option.flag} takes no range LOW:HIGH, only choices")
    try:
        low, high = (option.kind.parse(v) if parse else option.kind.check(v) for v in (low, high))
    except ValueError as err:
        raise VaekitError(f"{where}: {err}") from None
    if not low < high:
        raise VaekitError(f"{where}: the range's low end must be below its high end")
    if log and low <= 0:
        raise VaekitError(f"{where}: a log range needs a low end above 0")
    return Range(option.name, low=low, high=high, log=log)


def _text_range(option: Any, text: str, where: str) -> Range:
    """ "LOW:HIGH" or "LOW:HIGH:log" -> a Range."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
        raise VaekitError(f"{where}: expected LOW:HIGH or LOW:HIGH:log, got {text!r}")
    return _range(option, parts[0], parts[1], len(parts) == 3, where, parse=True)


def _choices(option: Any, values: list[Any], where: str, parse: bool) -> Range:
    if not values:
        raise VaekitError(f"{where}: no choices")
    try:
        checked = [option.kind.parse(v) if parse else option.check(v) for v in values]
    except ValueError as err:
        raise VaekitError(f"{where}: {err}") from None
    if len(set(checked)) != len(checked):
        raise VaekitError(f"{where}: a choice is given twice")
    return Range(option.name, tuple(checked))


def parse_space_arg(text: str) -> Range:
    """One `--space NAME=SPEC`: NAME=LOW:HIGH[:log], NAME=A,B,C, or, for a list of widths,
    NAME=W,W/W,W (choices separated by "/")."""
    where = f"--space {text}"
    name, sep, spec = text.partition("=")
    if not sep or not spec.strip():
        raise VaekitError(f"{where}: expected NAME=LOW:HIGH or NAME=A,B,C")
    option = searchable_option(name, where)
    spec = spec.strip()
    if ":" in spec:
        return _text_range(option, spec, where)
    separator = "/" if isinstance(option.kind, Widths) else ","
    return _choices(option, [s.strip() for s in spec.split(separator)], where, parse=True)


def space_ranges(given: Mapping[str, Any], where: str) -> dict[str, Range]:
    """A `[search]` table, or vaekit.tune's `space`: each option's range, as a Range, a list
    of choices, a text "LOW:HIGH[:log]", a tuple (low, high[, "log"]) or one value."""
    ranges = {}
    for name, spec in given.items():
        here = f"{where} {name}"
        option = searchable_option(name, here)
        if option.name in ranges:  # latent-dim and latent_dim: one option given twice
            raise VaekitError(f"{here}: {option.name} is given twice; keep one")
        ranges[option.name] = declared_range(option, spec, here)
    return ranges


def declared_range(option: Any, spec: Any, where: str) -> Range:
    """A range written as a declaration, a TOML value or a Python value (module docstring)."""
    if isinstance(spec, Range):
        return spec
    if spec == "*" and option.choices:  # every value the registry holds, none listed here
        return Range(option.name, tuple(option.choices))
    if isinstance(spec, str) and ":" in spec:
        return _text_range(option, spec, where)
    if isinstance(spec, tuple) and spec and not isinstance(option.kind, Widths):
        log = len(spec) == 3 and spec[2] == "log"
        if len(spec) not in (2, 3) or (len(spec) == 3 and not log):
            raise VaekitError(f"{where}: expected (low, high) or (low, high, 'log')")
        return _range(option, spec[0], spec[1], log, where, parse=False)
    # A list of choices; for a list of widths, a list of lists (a flat list is one value).
    widths = isinstance(option.kind, Widths)
    if isinstance(spec, list) and (not widths or all(isinstance(s, list | tuple) for s in spec)):
        return _choices(option, spec, where, parse=False)
    return _choices(option, [spec], where, parse=False)


Feasible = Callable[[dict[str, Any]], str | None]


def build_space(fixed: dict[str, Any], given: dict[str, Range], feasible: Feasible) -> Space:
    """The space of a new search: the declared ranges, less the options given a fixed value,
    with the user's ranges (`given`) in place of the declared ones. `feasible(options)` says
    why the data cannot take a model of those options (None where it can): a declared choice
    it refuses is left out; a choice the user gave that it refuses is an error."""
    both = sorted(set(fixed) & set(given))
    if both:
        flag = TRAIN_OPTIONS[both[0]].flag
        raise VaekitError(f"{flag} is given a value and a search range: give one of them")
    model = given.get("model") or Range("model", family_names())
    if "model" in fixed:
        model = Range("model", (fixed["model"],))
    base = of_its_choices(fixed)
    kept = [f for f in model.choices if _why(feasible, {**base, "model": f}, "model" in given)]
    model = Range("model", tuple(kept))
    if not kept:
        raise VaekitError(f"this data takes none of the families {', '.join(family_names())}")
    shared = {
        name: declared_range(TRAIN_OPTIONS[name], spec, f"SEARCH {name}")
        for name, spec in SEARCH.items()
        if name not in fixed
    }
    own_keys = {key for f in kept for key in family(f).options}
    user_own = {n: r for n, r in given.items() if TRAIN_OPTIONS[n].config_key in own_keys}
    objective_owned = {n for c in OBJECTIVES.all() for n in c.own_options}
    foreign = {n for n in given if n != "model" and n not in set(user_own) | objective_owned}
    taken_by_other = {key for f in family_names() for key in family(f).options}
    for name in foreign:
        if TRAIN_OPTIONS[name].config_key in taken_by_other:
            raise VaekitError(
                f"--space {TRAIN_OPTIONS[name].flag[2:]}: no family searched takes it "
                f"(searched: {', '.join(kept)})"
            )
        shared[name] = given[name]
    flat = [f for f in kept if not family(f).hierarchical]
    for name, searched in list(shared.items()):
        if not searched.choices or not flat:
            continue
        try_with = {**base, "model": flat[0]}
        on = NEEDS_ABOVE_ZERO.get(name)
        if on is not None and (on in shared or base.get(on, 0) > 0):
            try_with[on] = base.get(on) or 1  # judged as drawn: with its other above 0
        choices = [
            c for c in searched.choices if _why(feasible, {**try_with, name: c}, name in given)
        ]
        default = TRAIN_OPTIONS[name].default
        if choices and (name in given or choices != [default]):
            shared[name] = Range(name, tuple(choices))
        else:  # a declared option this data takes at no value but its default: not drawn
            del shared[name]
    own: dict[str, dict[str, Range]] = {}
    for f in kept:
        declared = family(f)
        ranges = {
            n: declared_range(TRAIN_OPTIONS[n], s, f"{f}.search {n}")
            for n, s in declared.search.items()
            if n not in fixed
        }
        ranges.update(
            {n: r for n, r in user_own.items() if TRAIN_OPTIONS[n].config_key in declared.options}
        )
        if ranges:
            own[f] = ranges
    objective = fixed.get("objective", TRAIN_OPTIONS["objective"].default)
    objectives = shared["objective"].choices if "objective" in shared else (objective,)
    by_objective = _by_objective(objectives, fixed, given)
    defaults_only = {f: _defaults_only(f, shared, base, feasible) for f in kept}
    defaults_only = {f: names for f, names in defaults_only.items() if names}
    where = _where(shared, fixed, given)
    return Space(model, shared, own, by_objective, objective, defaults_only, where)


def _where(
    shared: dict[str, Range], fixed: dict[str, Any], given: dict[str, Range]
) -> dict[str, str]:
    """NEEDS_ABOVE_ZERO for this search: an option drawn only where its other is drawn above 0
    stays conditional where that other is searched, is drawn in every trial where the other
    is given above 0, and is not drawn where the other is 0 (given so, or the only value the
    data takes): the user's range for it is then an error, as it would change nothing."""
    where = {}
    for name, on in NEEDS_ABOVE_ZERO.items():
        if name not in shared:
            continue
        if on in shared:
            where[name] = on
        elif not fixed.get(on, TRAIN_OPTIONS[on].default) > 0:
            if name in given:
                flag = TRAIN_OPTIONS[name].flag
                raise VaekitError(
                    f"--space {flag[2:]}: it does something only with {TRAIN_OPTIONS[on].flag} "
                    f"above 0, which this search neither draws nor is given"
                )
            del shared[name]
    return where


def _defaults_only(
    name: str, shared: dict[str, Range], base: dict[str, Any], feasible: Feasible
) -> tuple[str, ...]:
    """The shared options drawn that family `name` takes at their default value only (every
    other choice refused by `feasible`) or declares it ignores."""
    out = [option for option in family(name).ignores if option in shared]
    for option, searched in shared.items():
        default = TRAIN_OPTIONS[option].default
        others = [c for c in searched.choices if c != default]
        if others and all(feasible({**base, "model": name, option: c}) for c in others):
            out.append(option)
    return tuple(dict.fromkeys(out))


def _by_objective(
    objectives: tuple[str, ...], fixed: dict[str, Any], given: dict[str, Range]
) -> dict[str, dict[str, Range]]:
    """The options of the `objectives` searched to draw where each is drawn: as each
    declares, less those given a value, with the user's ranges in place of the declared
    ones. An objective's option the user searches or fixes that none of them takes is an
    error (it would be refused in every trial, or do nothing)."""
    by: dict[str, dict[str, Range]] = {}
    for name in objectives:
        declared = OBJECTIVES.get(name)
        ranges = {
            n: declared_range(TRAIN_OPTIONS[n], s, f"{name}.search {n}")
            for n, s in declared.search.items()
            if n not in fixed
        }
        ranges.update({n: r for n, r in given.items() if n in declared.own_options})
        if ranges:
            by[name] = ranges
    taken = {n for o in objectives for n in OBJECTIVES.get(o).own_options}
    for c in OBJECTIVES.all():
        for n in sorted(set(c.own_options) & (set(given) | set(fixed)) - taken):
            flag = TRAIN_OPTIONS[n].flag
            raise VaekitError(
                f"{flag} belongs to --objective {c.name}, which this search neither draws "
                f"nor is given (searched: {', '.join(objectives)}; add it with --space "
                f"objective={','.join(dict.fromkeys((*objectives, c.name)))})"
            )
    return by


def _why(feasible: Feasible, options: dict[str, Any], given: bool) -> bool:
    """Whether the data takes a model of `options`; where not, an error if the user asked
    for it (`given`), else False (a declared choice this data cannot use is left out)."""
    why = feasible(options)
    if why is not None and given:
        raise VaekitError(f"--space: {why}")
    return why is None
