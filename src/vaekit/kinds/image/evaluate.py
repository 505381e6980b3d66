"""The image kind's evaluate part: see vaekit.kinds.protocol.

An image model's reconstruction figure is the one vaekit.evaluation.evaluate computes itself:
the MSE and PSNR of the posterior-mean reconstruction, in pixel values."""

from __future__ import annotations

from typing import Any

from vaekit.data.batches import ImageSet
from vaekit.models.vae import VAE

# evaluate_vae's own reconstruction error (MSE, PSNR) means something for pixels.
RECONSTRUCTION_MSE = True


def figures(
    vae: VAE, examples: ImageSet, schema: Any, report: dict[str, Any], reconstruction: bool
) -> None:
    """Nothing to add to evaluate_vae's numbers; where the reconstruction was not asked for,
    the report says it was skipped."""
    if not reconstruction:
        report["reconstruction"] = {"skipped": "--no-reconstruction"}
