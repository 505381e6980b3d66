"""The audio kind's evaluate part: see vaekit.kinds.protocol.

Reconstruction quality of an audio VAE: the log-spectral distance, in dB. For a clip x and its
posterior-mean reconstruction x', both log-mel spectrograms in dB (N, 1, M, T:
data_mel.py, standardization undone), the log-spectral distance is the RMS over the M mel
bins of the dB difference, averaged over the T frames:

    LSD(x, x') = 1/T sum_t sqrt( 1/M sum_m (dB_x[m, t] - dB_x'[m, t])^2 )

reported per clip and averaged over the clips (with its standard error). It is computed on
the mel spectrogram the model sees (floored at FLOOR_DB, padding frames included), not on the
waveform after Griffin-Lim.
"""

from __future__ import annotations

from typing import Any

import torch

from vaekit.data.batches import ImageSet, batch_indices
from vaekit.kinds.audio.data_mel import AudioFeatures
from vaekit.models.vae import VAE

# Standardized log-mel units mean little: the log-spectral distance, in dB, instead.
RECONSTRUCTION_MSE = False


def figures(
    vae: VAE,
    examples: ImageSet,
    schema: AudioFeatures,
    report: dict[str, Any],
    reconstruction: bool,
) -> None:
    """The reconstruction section: the log-spectral distance, in dB (spectral_errors)."""
    if not reconstruction:
        report["reconstruction"] = {"skipped": "--no-reconstruction"}
    else:
        report["reconstruction"] = spectral_errors(vae, examples, schema)


def log_spectral_distance(a_db: torch.Tensor, b_db: torch.Tensor) -> torch.Tensor:
    """LSD per clip (N,) between two sets of spectrograms in dB (N, 1, M, T)."""
    per_frame = (a_db - b_db).double().pow(2).mean(dim=(1, 2)).sqrt()  # (N, T)
    return per_frame.mean(dim=1)


@torch.no_grad()
def spectral_errors(
    model: VAE, data: ImageSet, features: AudioFeatures, batch_size: int = 256
) -> dict[str, Any]:
    """{"lsd_db": mean LSD over the clips, "lsd_db_stderr", "rmse_db"} of the posterior-mean
    reconstructions of `data` (standardized spectrograms)."""
    device = next(model.parameters()).device
    distances, squared = [], []
    for index in batch_indices(len(data), batch_size, shuffle=False):
        x = data.scaled(index).to(device)
        y = data.labels[index].to(device) if model.num_classes else None  # a conditional VAE's
        a, b = features.to_decibels(x), features.to_decibels(model.reconstruct(x, y))
        distances.append(log_spectral_distance(a, b).cpu())
        squared.append((a - b).double().pow(2).flatten(1).mean(1).cpu())
    lsd = torch.cat(distances)
    n = len(lsd)
    return {
        "lsd_db": float(lsd.mean()),
        "lsd_db_stderr": float(lsd.std() / n**0.5) if n > 1 else None,  # one clip: none
        "rmse_db": float(torch.cat(squared).mean().sqrt()),
    }
