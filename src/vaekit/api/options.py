"""The training options as they travel: from a TOML file or keyword arguments, into the model
and training configs, into config.json and back out of it for --resume.

Everything here is derived from the declarations in vaekit.train_options: the keys a TOML file
may set (either spelling, latent-dim or latent_dim), the checks of `vaekit.train`'s keywords,
where config.json records each option, and which may differ when a run is resumed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vaekit.components import OBJECTIVES
from vaekit.data.datasets import missing_path, other_readings
from vaekit.errors import VaekitError
from vaekit.kinds.base import FAMILIES, Kind, kind_names, recognize_source
from vaekit.kinds.base import family as find_family
from vaekit.kinds.base import kind as find_kind
from vaekit.models.factory import ModelConfig, foreign_option
from vaekit.options import normalize_keys
from vaekit.train_options import KIND_OPTIONS, TRAIN_OPTIONS, resumable_flags, unused_option
from vaekit.training.loop import TrainConfig

# Recorded in config.json, but not as an option of its own: the model's num_classes says
# whether it is conditional; the training section's device is where it last ran.
# A model records its kind of data as "kind", and the kind's record of its data as "schema"
# (its model part's `record`: a table's columns, kinds and statistics; audio's spectrogram
# settings and statistics; a text model's vocabulary and text options). The options that are
# the model family's own are recorded in "family_options" (only its family's: see
# vaekit.kinds.base.Family.options).
DERIVED_KEYS = {
    "model": ("shape", "num_classes", "custom", "kind", "schema", "family_options"),
    "training": ("device", "precision_resolved"),
}


def read_toml(given: str | Path) -> dict[str, Any]:
    """A --config file's table; every fault (no name, no file, a folder, not TOML) one line."""
    if not str(given).strip():  # --config "" (an unset shell variable): no file at all
        raise VaekitError("--config: no file given")
    path = Path(given).expanduser()
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise VaekitError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise VaekitError(f"{path}: a folder, not a TOML config file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise VaekitError(f"{path}: not valid TOML ({err or 'nested too deep'})") from None
    except OSError as err:
        raise VaekitError(f"{path}: cannot read the config file ({err.strerror or err})") from None


def read_options_file(path: str | Path) -> dict[str, Any]:
    """The options a TOML file sets, each checked against its declaration."""
    raw = read_toml(path)
    path = Path(path)
    for key in raw:  # an unknown key named as the file spells it, and so its suggestion
        name = str(key).replace("-", "_")
        if name not in TRAIN_OPTIONS.options:
            hint = TRAIN_OPTIONS.suggest(name, dashes="-" in str(key))
            raise VaekitError(f"{path}: unknown option {key!r}{hint}")
    return TRAIN_OPTIONS.check(normalize_keys(raw, str(path)), str(path), spell="key")


def resolve_options(given: dict[str, Any]) -> dict[str, Any]:
    """Every option: the given ones checked, the rest at their defaults."""
    return {**TRAIN_OPTIONS.defaults(), **TRAIN_OPTIONS.check(given, "vaekit.train",
                                                               spell="keyword")}  # fmt: skip


def refuse_other_kinds_options(own: Kind | None, given: dict[str, Any], data: Any) -> None:
    """Refuse the options of `given` (what the user set) that data of the kind `own` does not
    take: those its model part REFUSED, and those another kind takes alone (`only`)."""
    part = own.part("model") if own is not None else None

    def is_set(name: str) -> bool:
        return given.get(name) not in (None, False)

    for name in getattr(part, "REFUSED", ()):
        if is_set(name):
            raise VaekitError(part.refused(TRAIN_OPTIONS[name].flag))  # type: ignore[union-attr]
    for other in _kinds():
        theirs = other.part("model") if other != own else None
        if getattr(theirs, "only", None) is not None:  # a kind that takes its options alone
            for option in other.load_options():
                if is_set(option.name):  # (and how the data is read, and could be)
                    found = recognize_source(data, own.name if own is not None else None)
                    readings = other_readings(data, found) if found is not None else ""
                    raise VaekitError(theirs.only(option.flag, data) + readings)  # type: ignore[union-attr]


def data_kind(data: Any, of_kind: str | None = None) -> Kind | None:
    """The kind of data `data` is, as `open_dataset` will read it: the kind of the first source
    that recognizes it (vaekit.kinds.base.recognize_source), among the sources of the kind
    `of_kind` names where one is given (`--kind`); None where none does (opening it then says
    what is read)."""
    try:
        found = recognize_source(data, of_kind)
    except (TypeError, ValueError, OSError):  # no path: no source's test applies to it
        return None
    return next((k for k in _kinds() if found is not None and found in k.sources), None)


def _kinds() -> list[Kind]:
    """Every kind with parts to ask (a kind that only adds sources has none)."""
    return [k for k in map(find_kind, kind_names()) if k.package is not None]


def fit_options_to_data(options: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The full set of options for the kind of its data (`data_kind`), from its model part:
    its DEFAULTS (or, where it has them, its `defaults(given)`) where `given` (what the user
    set) does not say otherwise; the options it REFUSED are refused, and so are the options
    only another kind takes (a table's --target for images, text's --vocab-size for a
    table): that kind's own options (`Kind.load_options`), where its model part has an
    `only` to say so. The image kind has none: its options refused elsewhere are in those
    kinds' REFUSED, checked first. An option given that would change nothing beside the
    options chosen (--mixtures with the bernoulli likelihood: unused_option), or that only
    other families take, is refused too."""
    data = options["data"]
    if missing_path(data):  # opening it says so, not "--window is for time series ... and
        return options  # --data 'x.csv' is not one"
    own = data_kind(data, options.get("kind"))
    part = own.part("model") if own is not None else None
    refuse_other_kinds_options(own, given, data)
    fitted = options
    if part is not None:
        fitting = getattr(part, "defaults", None)
        defaults = fitting(given) if fitting is not None else getattr(part, "DEFAULTS", {})
        fitted = {**options, **{k: v for k, v in defaults.items() if k not in given}}
    refused = unused_option(fitted, [k for k, v in given.items() if v is not None])
    if refused is not None:
        raise VaekitError(refused)
    refuse_other_families(fitted, given)
    return fitted


def refuse_other_families(options: dict[str, Any], given: dict[str, Any]) -> None:
    """A model option the user set (in `given`: a flag typed, a TOML key, a keyword) that only
    other families take is refused for the family `options` chose (the kind's default family
    where the user named none), in one line: it would change nothing. The options left at
    their defaults are not given, and pass; so do a kind's defaults for options its family
    lacks (build_configs drops them)."""
    chosen = find_family(options["model"])
    for name, value in given.items():
        if value is None or name not in TRAIN_OPTIONS:
            continue
        key = TRAIN_OPTIONS[name].config_key
        if key in family_keys() and key not in chosen.options:
            raise VaekitError(foreign_option(chosen, key))


def family_keys() -> set[str]:
    """The config keys of the options that some family declares as its own
    (vaekit.kinds.base.Family.options): a config records only its family's, in
    model.family_options."""
    return {key for declared in FAMILIES.all() for key in declared.options}


def build_configs(
    options: dict[str, Any],
    shape: tuple[int, ...],
    num_classes: int = 0,
    custom: dict[str, Any] | None = None,
    kind: str | None = None,
    schema: dict[str, Any] | None = None,
) -> tuple[ModelConfig, TrainConfig]:
    """The model and training configs for a full set of options (the one place they are
    built): each takes the options named like its fields. `kind` names the kind of data
    (ModelConfig's default where None) and `schema` is its record (its model part's
    `record`)."""
    model_values = {o.config_key: options[o.name] for o in TRAIN_OPTIONS.in_section("model")}
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    # The family's own options only: another family's (at their defaults, or a kind's default
    # for a family that lacks them) play no part in this model.
    own = find_family(model_values["family"]).options
    model_config = ModelConfig(
        shape=tuple(shape),
        num_classes=num_classes,
        custom=custom or {},
        schema=schema,
        family_options={k: model_values[k] for k in own if k in model_values},
        **({} if kind is None else {"kind": kind}),
        **{k: v for k, v in model_values.items() if k in model_fields},
    )
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"objective_options"}
    train_config = TrainConfig(
        objective_options=objective_options(options["objective"], options),
        **{k: v for k, v in options.items() if k in train_fields},
    )
    model_config.validate()
    train_config.validate()
    return model_config, train_config


def _declared_objective_keys() -> set[str]:
    """The config keys of the options that installed objectives declare (Component.declares):
    a run records only its objective's."""
    return {o.config_key for c in OBJECTIVES.all() for o in c.declares}


def objective_options(objective: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """TrainConfig.objective_options: the values of the options the `objective` declares
    itself (an installed package's, Component.declares), from `values` (options by name, or
    config.json's training section), each at its default where `values` lacks it."""
    declared = OBJECTIVES.get(objective).declares
    return {o.name: values.get(o.name, TRAIN_OPTIONS[o.name].default) for o in declared}


def config_sections(options: dict[str, Any], model_config: ModelConfig) -> dict[str, Any]:
    """config.json's model and training sections, and the data options it records beside the
    dataset's own description, for a full set of options."""
    model = {**dataclasses.asdict(model_config)}
    model["family_options"] = _json_ready(model["family_options"])
    # Of the options installed objectives declare, only the chosen one's (as only the family's
    # own model options are recorded): a run does not depend on another package's options.
    chosen = objective_options(options["objective"], options)
    others = _declared_objective_keys() - {TRAIN_OPTIONS[n].config_key for n in chosen}
    training = {
        o.config_key: options[o.name]
        for o in TRAIN_OPTIONS.in_section("training")
        if o.config_key not in others
    }
    data = {
        o.config_key: options[o.name]
        for o in TRAIN_OPTIONS.in_section("data")
        if o.config_key != "name"
    }
    for o in TRAIN_OPTIONS.in_section("model"):
        if o.config_key not in family_keys():  # the family's own are in family_options
            model.setdefault(o.config_key, options[o.name])
    return {"model": _json_ready(model), "training": _json_ready(training), "data": data}


def options_from_config(config: dict[str, Any]) -> dict[str, Any]:
    """The options a run directory's config.json records (those it records at all); a
    section with a missing or ill-typed key is a VaekitError naming it."""
    for section in ("model", "training", "data"):
        check_section(config, section, "config.json")
    # The family's own options beside the shared ones; another family's read as defaults.
    sections = {**config, "model": {**config["model"], **config["model"]["family_options"]}}
    out = {}
    for option in TRAIN_OPTIONS:
        if option.section is not None:
            # .get: a kind's own option the run predates (check_section let it be absent)
            value = sections[option.section].get(option.config_key, option.default)
            out[option.name] = tuple(value) if isinstance(value, list) else value
    out["conditional"] = config["model"]["num_classes"] > 0
    recorded_kind = config["model"].get("kind")
    if isinstance(recorded_kind, str):  # a text run records its text options in its schema
        in_record = getattr(find_kind(recorded_kind).part("model"), "options_in_record", None)
        if in_record is not None:
            out.update(in_record(config["model"].get("schema")))
    return out


def check_section(config: dict[str, Any], section: str, where: str) -> None:
    """Every key of a config.json section is a declared option (or a derived key) with a value
    its declaration accepts; none is missing."""
    values = config.get(section)
    if not isinstance(values, dict):
        raise VaekitError(f"{where}: no {section!r} section")
    declared = {o.config_key: o for o in TRAIN_OPTIONS.in_section(section)}
    derived = DERIVED_KEYS.get(section, ())
    if section == "model":  # the family's own options, checked as the others are
        own = values.get("family_options")
        if not isinstance(own, dict):
            raise VaekitError(f"{where}: model: family_options: expected a table, got {own!r}")
        values = {**values, **own}
    if section != "data":  # the data section also describes the dataset itself
        unknown = sorted(set(values) - set(declared) - set(derived))
        if unknown:
            raise VaekitError(f"{where}: {section}: unknown key {unknown[0]!r}")
    # Another family's or installed objective's options are absent (ModelConfig and
    # train_config_from fill in the chosen one's).
    optional = _kinds_own(section) | family_keys() | _declared_objective_keys()
    missing = sorted(set(declared) - set(values) - optional)
    if missing:
        raise VaekitError(f"{where}: {section}: missing key {missing[0]!r}")
    for key, option in declared.items():
        if key not in values:
            continue  # a kind's own option the run predates: see _kinds_own
        try:
            option.check(tuple(values[key]) if isinstance(values[key], list) else values[key])
        except ValueError as err:
            raise VaekitError(f"{where}: {section}.{key}: {err}") from None


def _kinds_own(section: str) -> set[str]:
    """The config keys of the kinds' own options in `section` (vaekit.kinds.<kind>.options):
    a run written before a kind existed lacks them, and reads each as its default (it is of
    another kind: the option played no part in it)."""
    return {o.config_key for o in KIND_OPTIONS if o.section == section}


def check_resume_options(config: dict[str, Any], given: dict[str, Any]) -> None:
    """On resume only the options declared resumable (resumable_flags(); --data only for data
    that has moved) may differ from the recorded run."""
    recorded = options_from_config(config)
    for name, value in given.items():
        if name not in TRAIN_OPTIONS or TRAIN_OPTIONS[name].resumable or name not in recorded:
            continue
        if value != recorded[name]:
            raise VaekitError(
                f"--resume: {TRAIN_OPTIONS[name].flag} {value!r} differs from the run's "
                f"{recorded[name]!r}; only {resumable_flags()} may change"
            )


def config_hash(config: dict[str, Any]) -> str:
    """A hash of what a checkpoint depends on: the config without versions, without the
    training options that may change on resume (epochs, device, ...) and without what is
    derived from them (the precision `auto` resolved to)."""
    versions = ("schema_version", "vaekit_version", "torch_version")
    free = {o.config_key for o in TRAIN_OPTIONS.in_section("training") if o.resumable}
    free |= set(DERIVED_KEYS["training"])
    stable = {k: v for k, v in config.items() if k not in versions}
    stable["training"] = {k: v for k, v in config["training"].items() if k not in free}
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()


def _json_ready(values: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
