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
from pathlib import Path
from typing import Any

from vaekit.data.audio import is_audio_source
from vaekit.data.tables import is_table_path
from vaekit.data.text import is_text_path
from vaekit.errors import VaekitError
from vaekit.models.factory import ModelConfig
from vaekit.models.text import TEXT_KEYS
from vaekit.options import normalize_keys
from vaekit.train_options import DEFAULTS, TRAIN_OPTIONS, resumable_flags
from vaekit.training.loop import TrainConfig

# Recorded in config.json, but not as an option of its own: the model's num_classes says
# whether it is conditional; the training section's device is where it last ran.
# A table's model records its schema (columns, kinds, statistics) as "table"; an audio model
# its spectrogram settings and statistics as "audio"; a text model its vocabulary and text
# options as "text" (vaekit.models.text.TextSpec).
DERIVED_KEYS = {
    "model": ("shape", "num_classes", "custom", "kind", "schema"),
    "training": ("device", "precision_resolved"),
}


def read_options_file(path: str | Path) -> dict[str, Any]:
    """The options a TOML file sets, each checked against its declaration."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise VaekitError(f"{path}: config file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise VaekitError(f"{path}: not valid TOML ({err or 'nested too deep'})") from None
    return TRAIN_OPTIONS.check(normalize_keys(raw, str(path)), str(path), spell="key")


def resolve_options(given: dict[str, Any]) -> dict[str, Any]:
    """Every option: the given ones checked, the rest at their defaults."""
    return {**DEFAULTS, **TRAIN_OPTIONS.check(given, "vaekit.train")}


# What a table changes: the options a table's model is built with unless the user gives them
# (the mixed likelihood's Gaussians learn one standard deviation per column, starting at the
# standardized columns' own), and the image options it refuses.
TABLE_DEFAULTS = {
    "model": "mlp",
    "likelihood": "mixed",
    "gaussian_variance": "global",
    "gaussian_std": 1.0,
}
TABLE_REFUSED = ("image_size", "pixels", "binarize", "train_noise", "conditional")
TABLE_ONLY = ("columns", "target", "id_column", "target_is_label")


# What audio (a folder of .wav files) changes: its standardized log-mel spectrograms are
# modelled by a Gaussian with one learned standard deviation (starting at the data's own, 1).
AUDIO_DEFAULTS = {"likelihood": "gaussian", "gaussian_variance": "global", "gaussian_std": 1.0}
AUDIO_REFUSED = ("image_size", "pixels", "binarize", "train_noise")
AUDIO_ONLY = ("sample_rate", "clip_seconds", "n_fft", "hop_length", "n_mels", "label_pattern",
              "test_pattern")  # fmt: skip

# What text changes: the sentence VAE, with KL warm-up on (Bowman et al. 2016: without it,
# and without word dropout, the decoder learns to ignore the latent) and free bits (Kingma et
# al. 2016): with warm-up and word dropout alone the KL settled near 1 nat per line on
# Shakespeare, with 0.1 nats per dimension at 3.4 (BENCHMARKS.md).
TEXT_DEFAULTS = {
    "model": "rnn",
    "likelihood": "categorical",
    "kl_warmup": 2000,
    "free_bits": 0.1,
}
TEXT_OPTIONS = ("vocab_size", "max_length", "embed_dim", "rnn_hidden", "word_dropout",
                "language_model")  # fmt: skip
TEXT_REFUSED = (*TABLE_REFUSED, *TABLE_ONLY)


def fit_options_to_data(options: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The full set of options for the kind of its data: a table (.csv, .parquet) takes the
    TABLE_DEFAULTS where `given` (what the user set) does not say otherwise, and refuses the
    image options; audio (a folder of .wav files) likewise takes AUDIO_DEFAULTS and refuses
    AUDIO_REFUSED; text (.txt) takes the TEXT_DEFAULTS and refuses the image and table
    options; other data refuses the table, audio and text options."""
    text = is_text_path(options["data"])
    if not text:
        for name in TEXT_OPTIONS:
            if given.get(name) not in (None, False):
                raise VaekitError(
                    f"{TRAIN_OPTIONS[name].flag} is for text (.txt data), and --data "
                    f"{options['data']!r} is not text"
                )
    if is_audio_source(options["data"]):
        for name in (*AUDIO_REFUSED, *TABLE_ONLY):
            if given.get(name) not in (None, False):
                raise VaekitError(f"{TRAIN_OPTIONS[name].flag} is not for audio (.wav files)")
        return {**options, **{k: v for k, v in AUDIO_DEFAULTS.items() if k not in given}}
    for name in AUDIO_ONLY:
        if given.get(name) is not None:
            raise VaekitError(
                f"{TRAIN_OPTIONS[name].flag} is for audio (a folder of .wav files), and "
                f"--data {options['data']!r} is not one"
            )
    if text:
        for name in TEXT_REFUSED:
            if given.get(name) not in (None, False):
                raise VaekitError(f"{TRAIN_OPTIONS[name].flag} does not apply to text (.txt data)")
        return {**options, **{k: v for k, v in _text_defaults(given).items() if k not in given}}
    if not is_table_path(options["data"]):
        for name in TABLE_ONLY:
            if given.get(name) not in (None, False):
                raise VaekitError(
                    f"{TRAIN_OPTIONS[name].flag} is for tables (.csv or .parquet data), and "
                    f"--data {options['data']!r} is not one"
                )
        return options
    for name in TABLE_REFUSED:
        if given.get(name) not in (None, False):
            raise VaekitError(f"{TRAIN_OPTIONS[name].flag} is for images, not tables")
    return {**options, **{k: v for k, v in TABLE_DEFAULTS.items() if k not in given}}


def _text_defaults(given: dict[str, Any]) -> dict[str, Any]:
    """TEXT_DEFAULTS less what the user's other choices exclude: the IWAE bound (--iw-train)
    and the language model have no KL term to warm up or to floor, and free bits need the
    standard-normal prior."""
    defaults = dict(TEXT_DEFAULTS)
    if (given.get("iw_train") or 1) > 1 or given.get("language_model"):
        del defaults["kl_warmup"], defaults["free_bits"]  # nothing to warm up or to floor
    elif given.get("prior", "standard-normal") not in (None, "standard-normal"):
        del defaults["free_bits"]
    return defaults


def build_configs(
    options: dict[str, Any],
    shape: tuple[int, ...],
    num_classes: int = 0,
    custom: dict[str, Any] | None = None,
    table: dict[str, Any] | None = None,
    audio: dict[str, Any] | None = None,
    text: dict[str, Any] | None = None,
) -> tuple[ModelConfig, TrainConfig]:
    """The model and training configs for a full set of options (the one place they are
    built): each takes the options named like its fields."""
    model_values = {o.config_key: options[o.name] for o in TRAIN_OPTIONS.in_section("model")}
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    model_config = ModelConfig(
        shape=tuple(shape),
        num_classes=num_classes,
        custom=custom or {},
        **_kind_and_schema(table, audio, text),
        **{k: v for k, v in model_values.items() if k in model_fields},
    )
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    train_config = TrainConfig(**{k: v for k, v in options.items() if k in train_fields})
    model_config.validate()
    train_config.validate()
    return model_config, train_config


def _kind_and_schema(
    table: dict[str, Any] | None, audio: dict[str, Any] | None, text: dict[str, Any] | None
) -> dict[str, Any]:
    """TRANSITIONAL (issue 26): the kind and its record from the old three records."""
    for name, record in (("table", table), ("audio", audio), ("text", text)):
        if record is not None:
            return {"kind": name, "schema": record}
    return {"kind": "image", "schema": None}


def config_sections(options: dict[str, Any], model_config: ModelConfig) -> dict[str, Any]:
    """config.json's model and training sections, and the data options it records beside the
    dataset's own description, for a full set of options."""
    model = {**dataclasses.asdict(model_config)}
    training = {o.config_key: options[o.name] for o in TRAIN_OPTIONS.in_section("training")}
    data = {
        o.config_key: options[o.name]
        for o in TRAIN_OPTIONS.in_section("data")
        if o.config_key != "name"
    }
    for o in TRAIN_OPTIONS.in_section("model"):
        model.setdefault(o.config_key, options[o.name])
    return {"model": _json_ready(model), "training": _json_ready(training), "data": data}


def options_from_config(config: dict[str, Any]) -> dict[str, Any]:
    """The options a run directory's config.json records (those it records at all); a
    section with a missing or ill-typed key is a VaekitError naming it."""
    for section in ("model", "training", "data"):
        check_section(config, section, "config.json")
    out = {}
    for option in TRAIN_OPTIONS:
        if option.section is not None:
            value = config[option.section][option.config_key]
            out[option.name] = tuple(value) if isinstance(value, list) else value
    out["conditional"] = config["model"]["num_classes"] > 0
    text = config["model"].get("schema") if config["model"].get("kind") == "text" else None
    if isinstance(text, dict):  # a text run records its text options in its text record
        out.update({k: text[k] for k in (*TEXT_KEYS, "max_length") if k in text})
    return out


def check_section(config: dict[str, Any], section: str, where: str) -> None:
    """Every key of a config.json section is a declared option (or a derived key) with a value
    its declaration accepts; none is missing."""
    values = config.get(section)
    if not isinstance(values, dict):
        raise VaekitError(f"{where}: no {section!r} section")
    declared = {o.config_key: o for o in TRAIN_OPTIONS.in_section(section)}
    derived = DERIVED_KEYS.get(section, ())
    if section != "data":  # the data section also describes the dataset itself
        unknown = sorted(set(values) - set(declared) - set(derived))
        if unknown:
            raise VaekitError(f"{where}: {section}: unknown key {unknown[0]!r}")
    missing = sorted(set(declared) - set(values))
    if missing:
        raise VaekitError(f"{where}: {section}: missing key {missing[0]!r}")
    for key, option in declared.items():
        try:
            option.check(tuple(values[key]) if isinstance(values[key], list) else values[key])
        except ValueError as err:
            raise VaekitError(f"{where}: {section}.{key}: {err}") from None


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
