"""Save and load a model directory: config.json + model.safetensors.

The one place a model touches files. Weights are safetensors (loading never unpickles) and the
config is JSON, checked key by key, so nothing read from a user's file can run code. A file
may also be damaged or hostile: the config's sizes are checked against a budget before any
module is built (ModelConfig.check_size), each tensor's shape against the model before it is
read, and the tensors' bytes against the SHA-256 recorded in the file's metadata.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save, save_file

from vaekit.config import from_dict
from vaekit.errors import VaekitError
from vaekit.files import atomic_write, write_json
from vaekit.kinds.base import DEFAULT_KIND, family, family_names
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.models.vae import VAE

# 2: every option recorded (a reader fills nothing in); metrics.jsonl names each bound.
# 3: the options added since 2 (--time-budget, --ema, --flow-steps, --flow-hidden,
#    --autoregressive, --ar-kernel, --ar-width) and tables (the model's table schema, the
#    data's columns, target and id_column).
# 4: audio and text (the keys in _V3_ABSENT).
# 5: training.report, so that a run trained with --no-report resumes without one.
# 6: the model's kind of data and its record (model.kind, model.schema).
# 7: the family's own options in model.family_options, no other family's (migrate_v6).
# 8: training.log, the trackers (--log) a resumed run keeps logging to.
# 9: training.objective and its options (--objective, --tc-weight, ...: _V8_ABSENT).
SCHEMA_VERSION = 9
SCHEMA_VERSIONS = (1, 2, 3, 4, 5, 6, 7, 8, SCHEMA_VERSION)
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
RUN_SECTIONS = ("model", "data", "training")
# The safetensors metadata key under which a file records its tensors' digest.
DIGEST_KEY = "tensors_sha256"


def write_config(folder: str | Path, config: dict[str, Any]) -> None:
    """Write config.json; `config` holds a "model" section and anything else the caller adds."""
    write_json(Path(folder) / CONFIG_FILE, {"schema_version": SCHEMA_VERSION, **config})


def read_config(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / CONFIG_FILE
    if not Path(folder).is_dir():
        raise VaekitError(f"{folder}: not a folder (expected a vaekit run directory)")
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise VaekitError(f"{path}: missing; is {folder} a vaekit run directory?") from None
    except (ValueError, RecursionError) as err:  # also too deep, or integers too long
        raise VaekitError(f"{path}: not valid JSON ({err})") from None
    except OSError as err:
        raise VaekitError(f"{path}: cannot read ({err.strerror or err})") from None
    if not isinstance(config, dict) or "model" not in config:
        raise VaekitError(f"{path}: no 'model' section")
    version = config.get("schema_version")
    if version == 1:
        config = migrate_v1(config)
    if version in (1, 2):
        config = migrate_v2(config)
    if version in (1, 2, 3):
        config = migrate_v3(config)
    if version in (1, 2, 3, 4):
        config = migrate_v4(config)
    if version in (1, 2, 3, 4, 5):
        config = migrate_v5(config)
    if version in (1, 2, 3, 4, 5, 6):
        config = migrate_v6(config)
    if version in (1, 2, 3, 4, 5, 6, 7):
        config = migrate_v7(config)
    if version in (1, 2, 3, 4, 5, 6, 7, 8):
        config = migrate_v8(config)
    elif version != SCHEMA_VERSION:
        raise VaekitError(
            f"{path}: schema version {version!r}; this vaekit reads versions 1 to {SCHEMA_VERSION}"
        )
    return config


def is_run_dir(folder: str | Path) -> bool:
    """Whether `folder` holds a config.json that vaekit wrote (a schema it knows, with the
    model, data and training sections): a folder with anyone else's config.json is not a run."""
    try:
        config = json.loads((Path(folder) / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(config, dict)
        and type(config.get("schema_version")) is int
        and config["schema_version"] in SCHEMA_VERSIONS
        and all(isinstance(config.get(section), dict) for section in RUN_SECTIONS)
    )


# Schema 1 files omit the options added during its life; the values below are what vaekit
# 0.1.0 used when a key was absent. They are frozen here, not taken from today's defaults, so
# an old run keeps its meaning whatever the defaults become.
_V1_ABSENT = {
    "model": {
        "depth": 2,
        "layers": 2,
        "gaussian_variance": "fixed",
        "mixtures": 5,
        "prior": "standard-normal",
        "prior_components": 10,
        "num_classes": 0,
        "custom": {},
    },
    "training": {
        "binarize": False,
        "train_noise": None,
        "beta": 1.0,
        "kl_warmup": 0,
        "free_bits": 0.0,
        "iw_train": 1,
        "patience": None,
        "lr_schedule": "constant",
        "clip_grad": None,
        # 0.1.0 stopped at a non-finite epoch loss; a resumed schema 1 run gets these
        # options' first values.
        "rollback_after": 10,
        "max_rollbacks": 3,
        "precision": "fp32",
        "optimizer": "adam",
        "device": "cpu",
    },
    "data": {"image_size": None, "color": "auto", "crop": "center", "pixels": None},
}


# Schema 2 files lack the options that schema 3 added; each at the value that means "off",
# which is how every schema 2 run was trained (an autoregressive kernel and width are then
# unused, but recorded valid); schema 2 runs are of images: no table options (and no record of
# a kind, which migrate_v5 reads as images). Frozen here like _V1_ABSENT.
_V2_ABSENT = {
    "model": {
        "flow_steps": 0,
        "flow_hidden": 128,
        "autoregressive": 0,
        "ar_kernel": 3,
        "ar_width": 32,
    },
    "training": {"time_budget": None, "ema": 0.0},
    "data": {"columns": None, "target": None, "id_column": None},
}


# Schema 3 files lack what schema 4 added for audio; schema 3 runs are of images or tables
# (their records of audio and text, absent, migrate_v5 reads as none). Frozen here like
# _V2_ABSENT.
_V3_ABSENT: dict[str, dict[str, Any]] = {
    "model": {},
    "training": {},
    "data": {
        "sample_rate": None,
        "clip_seconds": None,
        "n_fft": None,
        "hop_length": None,
        "n_mels": None,
        "label_pattern": None,
        "test_pattern": None,
    },
}


# Schema 4 files do not record whether the run writes report.html at its end: every such run
# resumed with one unless told --no-report, which is what True keeps. Frozen like _V3_ABSENT.
_V4_ABSENT: dict[str, dict[str, Any]] = {"training": {"report": True}}


def _fill(config: dict[str, Any], absent: dict[str, dict[str, Any]], version: int) -> dict:
    """`config` as schema `version`: each section given the `absent` keys it lacks."""
    out = {**config, "schema_version": version}
    for section, keys in absent.items():
        values = out.get(section)
        if isinstance(values, dict):
            out[section] = {**keys, **values}
    return out


def migrate_v1(config: dict[str, Any]) -> dict[str, Any]:
    """A schema 1 config as schema 2: the keys it may lack, at the values 0.1.0 read them as."""
    return _fill(config, _V1_ABSENT, 2)


def migrate_v2(config: dict[str, Any]) -> dict[str, Any]:
    """A schema 2 config as schema 3: the options added since, off (no flow, no EMA, no time
    budget, no autoregressive decoder, no table). A schema 2 file that already holds one keeps
    it."""
    return _fill(config, _V2_ABSENT, 3)


def migrate_v3(config: dict[str, Any]) -> dict[str, Any]:
    """A schema 3 config as schema 4: no audio, no text."""
    return _fill(config, _V3_ABSENT, 4)


def migrate_v4(config: dict[str, Any]) -> dict[str, Any]:
    """A schema 4 config as schema 5: report.html written at the end, as resume then did."""
    return _fill(config, _V4_ABSENT, 5)


def migrate_v5(config: dict[str, Any]) -> dict[str, Any]:
    """A schema 5 config as schema 6: the model's kind of data and its record (model.kind,
    model.schema) in place of its three records (model.table, model.audio, model.text), at
    most one of which was set; none: images."""
    model = config.get("model")
    if not isinstance(model, dict):
        return {**config, "schema_version": 6}
    records = {name: model.get(name) for name in _V5_RECORDS}
    kept = {k: v for k, v in model.items() if k not in _V5_RECORDS}
    kind, schema = DEFAULT_KIND, None  # what a schema 5 run without a record was of
    for name, record in records.items():
        if record is not None:
            kind, schema = name, record
            break
    return {**config, "schema_version": 6, "model": {**kept, "kind": kind, "schema": schema}}


# The three records a schema 5 model section held, each named as the kind it meant. Frozen
# here like _V4_ABSENT: old files' keys, read once to migrate them, not branches on a kind.
_V5_RECORDS = ("table", "audio", "text")


def migrate_v6(config: dict[str, Any]) -> dict[str, Any]:
    """A schema 6 config as schema 7: of the options a schema 6 model section held for every
    family (_V6_FAMILY_KEYS), the ones its family declares as its own move into
    model.family_options and the others, which played no part in the model, are dropped. A
    family that is not registered here (its package not installed) keeps none: loading then
    says that the family is unknown."""
    model = config.get("model")
    if not isinstance(model, dict):
        return {**config, "schema_version": 7}
    name = model.get("family")
    own = family(name).options if name in family_names() else ()
    kept = {k: v for k, v in model.items() if k not in _V6_FAMILY_KEYS}
    moved = {k: model[k] for k in own if k in model}
    if isinstance(model.get("family_options"), dict):  # a newer file relabelled: it is kept
        moved = {**model["family_options"], **moved}
    return {**config, "schema_version": 7, "model": {**kept, "family_options": moved}}


# The options a schema 6 model section recorded whatever its family. Frozen like _V5_RECORDS.
_V6_FAMILY_KEYS = ("hidden_dims", "channels", "depth", "layers")

# Schema 7 files predate --log: none of those runs logged to a tracker. Frozen like _V4_ABSENT.
_V7_ABSENT: dict[str, dict[str, Any]] = {"training": {"log": None}}


def migrate_v7(config: dict[str, Any]) -> dict[str, Any]:
    """A schema 7 config as schema 8: no tracker (--log)."""
    return _fill(config, _V7_ABSENT, 8)


# Schema 8 files trained the plain loss: --objective elbo, each objective's own options at
# what their first declarations said (unused by elbo, but recorded valid). Frozen like
# _V7_ABSENT.
_V8_ABSENT: dict[str, dict[str, Any]] = {
    "training": {
        "objective": "elbo",
        "tc_weight": 6.0,
        "tc_estimator": "mws",
        "factor_weight": 35.0,
        "critic_lr": 1e-4,
        "mmd_weight": 1000.0,
        "mmd_kernel": "rbf",
        "mmd_scale": 0.0,
    }
}


def migrate_v8(config: dict[str, Any]) -> dict[str, Any]:
    """A schema 8 config as schema 9: trained on the plain loss (--objective elbo)."""
    return _fill(config, _V8_ABSENT, 9)


def model_config_from(config: dict[str, Any]) -> ModelConfig:
    """The ModelConfig that a (read, migrated) config.json records: every key present, the
    family's own options included (ModelConfig would fill in a missing one at its default: in
    a file vaekit wrote, it is damage)."""
    model_config = from_dict(ModelConfig, config["model"], "config.json: model", complete=True)
    recorded = config["model"]["family_options"]
    if model_config.family in family_names():
        missing = [k for k in family(model_config.family).options if k not in recorded]
        if missing:
            raise VaekitError(f"config.json: model: family_options: missing key {missing[0]!r}")
    try:
        model_config.validate()  # the size budget too: before anything is built
    except VaekitError as err:
        raise VaekitError(f"config.json: model: {err}") from None
    return model_config


def _weights_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def tensors_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """A digest of named tensors: names, types, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}\0{t.dtype}\0{tuple(tensors[name].shape)}\0".encode())
        digest.update(t.view(torch.uint8).numpy())
    return digest.hexdigest()


def save_weights(folder: str | Path, model: torch.nn.Module) -> None:
    """Write model.safetensors; weights holding NaN or inf are refused, never written."""
    state = _weights_state(model)
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise VaekitError(
                f"not saving {Path(folder) / WEIGHTS_FILE}: {name} holds NaN or infinite values"
            )
    meta = {DIGEST_KEY: tensors_sha256(state)}
    atomic_write(Path(folder) / WEIGHTS_FILE, lambda p: save_file(state, str(p), meta))


def weights_sha256(folder: str | Path) -> str:
    """The sha256 of the folder's model.safetensors (hex), read in 1 MiB pieces: what files
    derived from a model (eval.json, anomaly.json) record to say which weights they used."""
    digest = hashlib.sha256()
    path = Path(folder) / WEIGHTS_FILE
    try:
        with path.open("rb") as f:
            while piece := f.read(1 << 20):
                digest.update(piece)
    except FileNotFoundError:
        raise VaekitError(f"{path}: missing (the run has no saved weights yet)") from None
    return digest.hexdigest()


def state_sha256(model: torch.nn.Module) -> str:
    """The sha256 that `weights_sha256` gives for the file `save_weights` writes from these
    weights (the same bytes, hashed in memory): for a model that was not loaded from a file."""
    state = _weights_state(model)
    return hashlib.sha256(save(state, {DIGEST_KEY: tensors_sha256(state)})).hexdigest()


def load_model(
    folder: str | Path, device: str | torch.device = "cpu"
) -> tuple[VAE, ModelConfig, dict[str, Any]]:
    """Rebuild the VAE from config.json and fill it from model.safetensors.

    Returns the model (in eval mode), its ModelConfig and the whole config dict.
    """
    config = read_config(folder)
    model_config = model_config_from(config)
    model = build_vae(model_config)
    path = Path(folder) / WEIGHTS_FILE
    expected = model.state_dict()
    state, _ = read_safetensors(path, {k: tuple(v.shape) for k, v in expected.items()}, device)
    missing, unexpected = _compare_keys(expected, state)
    if missing or unexpected:
        raise VaekitError(
            f"{path}: weights do not match config.json "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    wrong = [k for k, v in state.items() if v.dtype != expected[k].dtype]
    if wrong:
        name = wrong[0]
        raise VaekitError(f"{path}: {name} is {state[name].dtype}, not {expected[name].dtype}")
    model.load_state_dict(state)
    return model.to(device).eval(), model_config, config


def read_safetensors(
    path: Path,
    shapes: dict[str, tuple[int, ...]],
    device: str | torch.device = "cpu",
    what: str = "safetensors file",
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of a safetensors file (`what` it is, for messages). A tensor
    named in `shapes` must have that shape, checked from the header before any tensor is
    read; where the metadata records DIGEST_KEY, the tensors must match it (a flipped byte is
    an error, never silent)."""
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            names = list(f.keys())
            for name in names:
                shape = tuple(f.get_slice(name).get_shape())
                if name in shapes and shape != shapes[name]:
                    raise VaekitError(
                        f"{path}: tensors do not match the model ({name} has shape {shape}, "
                        f"the model's is {shapes[name]})"
                    )
            tensors = {name: f.get_tensor(name) for name in names}
            meta = f.metadata() or {}
    except FileNotFoundError:
        raise VaekitError(f"{path}: missing (the run has no saved weights yet)") from None
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise VaekitError(f"{path}: not a readable {what} ({err})") from None
    recorded = meta.get(DIGEST_KEY)
    if recorded is not None and recorded != tensors_sha256(tensors):
        raise VaekitError(
            f"{path}: corrupt: its tensors do not match the SHA-256 recorded when it was written"
        )
    return tensors, meta


def _compare_keys(expected: dict, found: dict) -> tuple[list[str], list[str]]:
    return sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
