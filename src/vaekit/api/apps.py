"""The applications bound to a loaded model and its data: the latent-space tools, denoising
and uncertainty over the images a user names (resolved and checked by `Inputs`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from vaekit.api.inputs import Inputs
from vaekit.api.model import BATCH, Model, checked_count
from vaekit.apps import latent, restore
from vaekit.data.batches import ImageSet, corrupt, parse_noise
from vaekit.errors import VaekitError
from vaekit.models.metrics import psnr
from vaekit.models.posterior import posterior_moments_of
from vaekit.options import Float
from vaekit.report.limits import MAX_SPREAD_SAMPLES

__all__ = ["Inputs", "denoise", "embed", "interpolate", "interpolate_grid", "traverse",
           "uncertainty"]  # fmt: skip


def in_batches(function: Callable[[torch.Tensor], Any], x: torch.Tensor) -> list[Any]:
    """function(x[i:i+BATCH]) for each batch of x in order: memory stays that of one batch."""
    return [function(x[start : start + BATCH]) for start in range(0, len(x), BATCH)]


POSITIVE = Float(positive=True)  # traverse's span


def interpolate(
    model: Model, start: str, end: str, steps: int = 10, method: str = "lerp", data: Any = None
) -> torch.Tensor:
    """Images from `start` to `end` (indices or files) through posterior means: (steps, C, H, W)."""
    # one step gave one end of the path alone (0 no images, -3 a linspace error)
    steps = checked_count("steps", steps, least=2)
    if method not in latent.METHODS:
        raise VaekitError(f"unknown method {method!r}: choose from {', '.join(latent.METHODS)}")
    inputs = Inputs(model, data)
    x = torch.cat([inputs.one(start), inputs.one(end)])
    return latent.interpolate(model.vae, x[:1], x[1:], steps, method).cpu()


def interpolate_grid(
    model: Model, corners: list[str], steps: int = 8, data: Any = None
) -> torch.Tensor:
    """A steps x steps grid between four images (top-left, top-right, bottom-left, bottom-right)."""
    if len(corners) != 4:
        raise VaekitError(f"--grid needs four corners, got {len(corners)}")
    # one step gave one end of the path alone (0 no images, -3 a linspace error)
    steps = checked_count("steps", steps, least=2)
    inputs = Inputs(model, data)
    x = torch.cat([inputs.one(corner) for corner in corners])
    return latent.interpolate_grid(model.vae, x, steps).cpu()


def traverse(
    model: Model,
    index: str | None = None,
    dims: list[int] | None = None,
    span: float = 3.0,
    steps: int = 9,
    data: Any = None,
    kl_examples: int = 1000,
    most: int | None = None,
) -> tuple[torch.Tensor, list[int], list[float]]:
    """One row per latent dimension, most informative first (by KL over up to `kl_examples`
    test images), varying it around the posterior mean of `index` (or the prior's mean);
    with `most`, only the `most` most informative of them.

    Returns (images (rows * steps, C, H, W), the dimensions in row order, their KL).
    """
    model.require_images("vaekit traverse")
    if len(model.vae.layer_sizes) > 1 or not model.vae.has_kl_per_dim:
        raise VaekitError(
            "traverse varies latents around a standard normal prior, ranked by their KL: it "
            "needs a one-layer model with the standard-normal prior and no flow posterior"
        )
    # one step gave one end of the path alone (0 no images, -3 a linspace error)
    steps = checked_count("steps", steps, least=2)
    most = None if most is None else checked_count("most", most)
    try:
        span = POSITIVE.check(span)
    except ValueError as err:
        raise VaekitError(f"span: {err}") from None
    chosen = list(range(model.latent_dim)) if dims is None else list(dims)
    if not chosen:
        raise VaekitError("dims is empty: name at least one latent dimension (or None: all)")
    bad = [d for d in chosen if not 0 <= d < model.latent_dim]
    if bad:
        raise VaekitError(f"latent dimension {bad[0]} does not exist (0..{model.latent_dim - 1})")
    inputs = Inputs(model, data)
    start = inputs.one(index) if index is not None else None
    kl = latent.kl_per_dimension(model.vae, inputs.first(kl_examples)).cpu()
    ordered = sorted(chosen, key=lambda d: -float(kl[d]))[:most]
    if start is None:
        z = model.vae.prior().mean[0]
    else:
        with torch.no_grad():
            z = model.vae.posterior_mean(start)[0]
    images = latent.traverse(model.vae, z, ordered, span, steps).cpu()
    return images, ordered, [float(kl[d]) for d in ordered]


def embed(model: Model, data: Any = None, inputs: list[str] | None = None) -> dict[str, Any]:
    """Posterior means and standard deviations (N, Z) of the test split of the run's data (or
    of `data`), or of the named inputs; with the labels where there are any, and the ids
    where the model's kind names its examples (its model part's IDS: a table's row ids,
    audio's files) or where inputs are named (each as given). They are the model's own
    summaries (`VAE.posterior_moments`): exact for one Gaussian layer, Monte Carlo over
    ancestral draws for a hierarchical VAE."""
    model.require_unconditional("embed")
    resolver = Inputs(model, data)
    part = model.kind.part("model")
    if not inputs:
        chosen = resolver.test
    elif hasattr(part, "named_inputs"):  # a kind that reads its own (a table's rows, with ids)
        chosen = part.named_inputs(resolver, inputs)
    else:  # each named as given, as anomaly names them ("FILE[i]" in a file of several)
        x, names = resolver.named_images(inputs)
        chosen = ImageSet(x.cpu(), None, 1.0, ids=names)
    mean, std = posterior_moments_of(model.vae, chosen)
    ids = chosen.ids if getattr(part, "IDS", False) or inputs else None
    return {"mean": mean, "std": std, "labels": chosen.labels, "ids": ids}


def _chosen(
    model: Model, inputs: list[str] | None, n: int, data: Any
) -> tuple[torch.Tensor, list[str]]:
    """The named inputs, or the first n images of the test split; with each one's name
    (Inputs.named_images; the first n are named by their test-split index)."""
    resolver = Inputs(model, data)
    if inputs:
        return resolver.named_images(inputs)
    x = resolver.first(n)
    return x, [str(i) for i in range(len(x))]


def denoise(
    model: Model,
    inputs: list[str] | None = None,
    add_noise: str | None = None,
    n: int = 16,
    seed: int = 0,
    data: Any = None,
) -> dict[str, Any]:
    """Reconstruct noisy images through the posterior mean (`VAE.reconstruct`). With
    `add_noise` ("gaussian:0.3", "saltpepper:0.1", "mask:0.25") clean inputs are corrupted
    first (seeded) and the PSNR against them is reported before and after.

    Returns {"clean" (or None), "noisy", "denoised"} images (B, C, H, W), "names" (each
    input's: its INPUT as given, or its test-split index) and, with add_noise, per-image and
    mean "psnr_noisy" and "psnr_denoised" in dB.
    """
    model.require_images("vaekit denoise")
    noise = None
    if add_noise:
        try:
            noise = parse_noise(add_noise)
        except ValueError as err:
            raise VaekitError(f"--add-noise: {err}") from None
    x, names = _chosen(model, inputs, n, data)
    result: dict[str, Any] = {"clean": None, "noisy": x, "names": names}
    if noise is not None:
        kind, amount = noise
        generator = torch.Generator(x.device).manual_seed(seed)
        result["clean"], result["noisy"] = x, corrupt(x, kind, amount, generator)
    with torch.no_grad():
        result["denoised"] = torch.cat(in_batches(model.vae.reconstruct, result["noisy"]))
    if result["clean"] is not None:
        before = psnr(result["noisy"], x)
        after = psnr(result["denoised"], x)
        result.update(
            psnr_noisy=before.tolist(),
            psnr_denoised=after.tolist(),
            mean_psnr_noisy=float(before.mean()),
            mean_psnr_denoised=float(after.mean()),
        )
    for key in ("clean", "noisy", "denoised"):
        if result[key] is not None:
            result[key] = result[key].cpu()
    return result


def uncertainty(
    model: Model,
    inputs: list[str] | None = None,
    samples: int = 32,
    n: int = 8,
    seed: int = 0,
    data: Any = None,
) -> dict[str, Any]:
    """Posterior standard deviations and per-pixel predictive spread (from `samples` decodes
    of posterior samples) for each input. Returns tensors "inputs", "mean", "spread"
    (B, C, H, W) and "posterior_std" (B, Z), and "names" (each input's: its INPUT as given,
    or its test-split index)."""
    model.require_images("vaekit uncertainty")
    if not 2 <= samples <= MAX_SPREAD_SAMPLES:
        raise VaekitError(f"--samples must be from 2 to {MAX_SPREAD_SAMPLES:,}, got {samples}")
    x, names = _chosen(model, inputs, n, data)
    generator = torch.Generator(x.device).manual_seed(seed)
    parts = in_batches(lambda b: restore.predictive_spread(model.vae, b, samples, generator), x)
    std, mean, spread = (torch.cat([part[i] for part in parts]).cpu() for i in range(3))
    return {"inputs": x.cpu(), "mean": mean, "spread": spread, "posterior_std": std,
            "names": names}  # fmt: skip
