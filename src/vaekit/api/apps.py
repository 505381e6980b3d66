"""The applications bound to a loaded model and its data: which images a user means (dataset
indices or files), and the latent-space tools over them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vaekit.api.model import Model
from vaekit.api.run import reopen_dataset
from vaekit.apps import latent, restore
from vaekit.data.batches import ImageSet, corrupt, parse_noise, scale
from vaekit.data.folders import Decode, decode_image
from vaekit.data.formats import read_array_file
from vaekit.errors import VaekitError
from vaekit.models.metrics import psnr
from vaekit.models.posterior import posterior_moments_of


class Inputs:
    """Resolves what a user names as images: an index into the run's test split (or into
    `data`'s), an image file (PNG/JPEG, decoded to the model's size and channels), or a
    .npy/.npz file of images (all of them)."""

    def __init__(self, model: Model, data: Any = None) -> None:
        model.require_unconditional("this command")
        self.model = model
        self.data = data
        self._test = None

    @property
    def test(self):
        if self._test is None:
            self._test = reopen_dataset(self.model.run_config, self.data).test
        return self._test

    def images(self, specs: list[str]) -> torch.Tensor:
        """(B, C, H, W) float in [0, 1] on the model's device."""
        parts = [self._one(spec) for spec in specs]
        return torch.cat(parts).to(self.model.device)

    def _one(self, spec: str) -> torch.Tensor:
        c, h, w = self.model.shape
        if spec.isdigit():
            i = int(spec)
            if i >= len(self.test):
                raise VaekitError(f"index {i} is past the end of the test split ({len(self.test)})")
            return self.test.scaled(torch.tensor([i]))
        path = Path(spec)
        if not path.exists():
            raise VaekitError(f"{spec}: neither a test-split index nor an existing file")
        if path.suffix.lower() in (".npy", ".npz"):
            try:  # integers scaled by the model's value range, floats kept if in [0, 1]
                return self.model.prepare(read_array_file(path)["train_images"]).cpu()
            except VaekitError as err:
                raise VaekitError(f"{path}: {err}") from None
        else:
            square = h == w
            decode = Decode(
                h if square else None, "gray" if c == 1 else "rgb", 0 if square else None
            )
            pixels = decode_image(path, decode)
            if pixels is None:
                raise VaekitError(f"{path}: not a readable image")
            x = scale(torch.from_numpy(pixels)[None], 255)
        if tuple(x.shape[1:]) != (c, h, w):
            raise VaekitError(
                f"{path}: images of shape {tuple(x.shape[1:])}, the model's are {(c, h, w)}"
            )
        return x


def interpolate(
    model: Model, start: str, end: str, steps: int = 10, method: str = "lerp", data: Any = None
) -> torch.Tensor:
    """Images from `start` to `end` (indices or files) through posterior means: (steps, C, H, W)."""
    if method not in latent.METHODS:
        raise VaekitError(f"unknown method {method!r}: choose from {', '.join(latent.METHODS)}")
    x = Inputs(model, data).images([start, end])
    return latent.interpolate(model.vae, x[:1], x[1:], steps, method).cpu()


def interpolate_grid(
    model: Model, corners: list[str], steps: int = 8, data: Any = None
) -> torch.Tensor:
    """A steps x steps grid between four images (top-left, top-right, bottom-left, bottom-right)."""
    if len(corners) != 4:
        raise VaekitError(f"--grid needs four corners, got {len(corners)}")
    x = Inputs(model, data).images(corners)
    return latent.interpolate_grid(model.vae, x, steps).cpu()


def traverse(
    model: Model,
    index: str | None = None,
    dims: list[int] | None = None,
    span: float = 3.0,
    steps: int = 9,
    data: Any = None,
    kl_examples: int = 1000,
) -> tuple[torch.Tensor, list[int], list[float]]:
    """One row per latent dimension, most informative first (by KL over up to `kl_examples`
    test images), varying it around the posterior mean of `index` (or the prior's mean).

    Returns (images (rows * steps, C, H, W), the dimensions in row order, their KL).
    """
    if len(model.vae.layer_sizes) > 1 or not model.vae.prior.gaussian:
        raise VaekitError(
            "traverse varies latents around a standard normal prior: it needs a one-layer "
            "model with the standard-normal prior"
        )
    inputs = Inputs(model, data)
    test = inputs.test
    sample = test.scaled(slice(0, kl_examples)).to(model.device)
    kl = latent.kl_per_dimension(model.vae, sample).cpu()
    chosen = list(range(model.latent_dim)) if dims is None else dims
    bad = [d for d in chosen if not 0 <= d < model.latent_dim]
    if bad:
        raise VaekitError(f"latent dimension {bad[0]} does not exist (0..{model.latent_dim - 1})")
    ordered = sorted(chosen, key=lambda d: -float(kl[d]))
    if index is None:
        z = model.vae.prior().mean[0]
    else:
        with torch.no_grad():
            z = model.vae.posterior_mean(inputs.images([index]))[0]
    images = latent.traverse(model.vae, z, ordered, span, steps).cpu()
    return images, ordered, [float(kl[d]) for d in ordered]


def embed(model: Model, data: Any = None, inputs: list[str] | None = None) -> dict[str, Any]:
    """Posterior means and standard deviations (N, Z) of the test split of the run's data (or
    of `data`), or of the named inputs; with the labels where there are any. They are the
    model's own summaries (`VAE.posterior_moments`): exact for one Gaussian layer, Monte Carlo
    over ancestral draws for a hierarchical VAE."""
    model.require_unconditional("embed")
    if inputs:
        images = ImageSet(Inputs(model, data).images(inputs).cpu(), None, 1.0)
        mean, std = posterior_moments_of(model.vae, images)
        return {"mean": mean, "std": std, "labels": None}
    test = reopen_dataset(model.run_config, data).test
    mean, std = posterior_moments_of(model.vae, test)
    return {"mean": mean, "std": std, "labels": test.labels}


def _chosen(model: Model, inputs: list[str] | None, n: int, data: Any) -> torch.Tensor:
    """The named inputs, or the first n images of the test split."""
    resolver = Inputs(model, data)
    if inputs:
        return resolver.images(inputs)
    return resolver.test.scaled(slice(0, n)).to(model.device)


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

    Returns {"clean" (or None), "noisy", "denoised"} images (B, C, H, W) and, with add_noise,
    per-image and mean "psnr_noisy" and "psnr_denoised" in dB.
    """
    x = _chosen(model, inputs, n, data)
    result: dict[str, Any] = {"clean": None, "noisy": x}
    if add_noise:
        try:
            kind, amount = parse_noise(add_noise)
        except ValueError as err:
            raise VaekitError(f"--add-noise: {err}") from None
        generator = torch.Generator(x.device).manual_seed(seed)
        result["clean"], result["noisy"] = x, corrupt(x, kind, amount, generator)
    with torch.no_grad():
        result["denoised"] = model.vae.reconstruct(result["noisy"])
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
    (B, C, H, W) and "posterior_std" (B, Z)."""
    if samples < 2:
        raise VaekitError(f"--samples must be at least 2, got {samples}")
    x = _chosen(model, inputs, n, data)
    generator = torch.Generator(x.device).manual_seed(seed)
    std, mean, spread = restore.predictive_spread(model.vae, x, samples, generator)
    return {
        "inputs": x.cpu(),
        "mean": mean.cpu(),
        "spread": spread.cpu(),
        "posterior_std": std.cpu(),
    }
