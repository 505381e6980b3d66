"""The audio kind's model part: see vaekit.kinds.protocol."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vaekit.data.batches import ImageSet
from vaekit.errors import VaekitError
from vaekit.kinds.audio.data import clip_names
from vaekit.kinds.audio.data_mel import AudioFeatures
from vaekit.kinds.audio.options import DEFAULTS as DEFAULTS  # the protocol's
from vaekit.models.factory import ModelConfig
from vaekit.models.vae import VAE


def check(config: ModelConfig) -> None:
    """An audio model: its record, the shape it implies, and a Gaussian likelihood (the
    spectrograms are standardized real numbers) without an autoregressive decoder."""
    features = AudioFeatures.from_json(config.schema)
    if config.shape != features.shape:
        raise VaekitError(
            f"audio spectrograms of {features.n_mels} mel bins and {features.frames} frames "
            f"have shape {features.shape}, not {config.shape}"
        )
    if config.likelihood != "gaussian" and "likelihood" not in config.custom:
        raise VaekitError(
            f"--likelihood {config.likelihood} does not fit audio: its standardized log-mel "
            "spectrograms take --likelihood gaussian"
        )
    if config.autoregressive:
        raise VaekitError("--autoregressive does not fit audio: it models 8-bit pixels")


def finish(vae: VAE, config: ModelConfig) -> None:
    """Standardized log-mel spectrograms are real numbers: the mean is not clamped to the
    pixels' [0, 1]."""
    vae.mean_bounds = None


# --- the facade's questions (vaekit.api: Model, apps, anomaly, options, train) ------------

# Spectrograms are no pictures: the complexity score, which compares with a PNG's size, is
# refused for them.
COMPLEXITY = False
# Each clip is named by its file, which `embed` reports.
IDS = True

# The options an audio model is built with unless the user gives them: its standardized
# log-mel spectrograms are modelled by a Gaussian with one learned standard deviation
# (starting at the data's own, 1); the image and table options it refuses (the options only
# audio takes are its own, vaekit.kinds.audio.options, refused for other data with `only`).
REFUSED = ("image_size", "pixels", "binarize", "train_noise", "columns", "target",
           "id_column", "target_is_label")  # fmt: skip


def refused(flag: str) -> str:
    """Why audio refuses the option `flag` (one of REFUSED)."""
    return f"{flag} is not for audio (.wav files)"


def only(flag: str, data: Any) -> str:
    """Why data of another kind, `data`, refuses the option `flag` (one of this kind's
    own options: Kind.load_options)."""
    return f"{flag} is for audio (a folder of .wav files), and --data {data!r} is not one"


def prepare(x: Any, shape: tuple[int, ...], schema: Any, max_value: float) -> torch.Tensor:
    """Spectrograms in the model's units (standardized log-mel: `AudioFeatures.encode`),
    (B, M, T) or (B, 1, M, T) -> float32 (B, 1, M, T)."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.is_complex() or t.dtype == torch.bool or not (t.is_floating_point() or t.numel() == 0):
        raise VaekitError(f"expected spectrograms of real numbers, got {t.dtype}")
    if t.dim() == 3:
        t = t.unsqueeze(1)
    if t.dim() != 4 or tuple(t.shape[1:]) != tuple(shape):
        raise VaekitError(
            f"expected spectrograms shaped (B, {', '.join(map(str, shape))}), got {tuple(t.shape)}"
        )
    if t.numel() and not torch.isfinite(t).all():
        raise VaekitError("spectrogram values must be finite")
    return t.to(torch.float32)


def named_inputs(resolver: Any, specs: list[str]) -> ImageSet:
    """The clips that `specs` name (test-split indices or .wav files, one clip each) as one
    ImageSet, each named as `anomaly` names it (clip_names: an index by its clip's file)."""
    names = clip_names(specs, lambda: resolver.test.ids)
    return ImageSet(resolver.images(specs).cpu(), None, 1.0, ids=names)


def record(schema: AudioFeatures, options: dict[str, Any]) -> dict[str, Any]:
    """config.json's model.schema: the spectrogram settings and statistics."""
    return schema.to_json()
