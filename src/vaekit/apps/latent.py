"""Moving through the latent space: interpolation, traversal, embeddings.

Pure functions over a VAE: they take images (B, C, H, W) in [0, 1] on the model's device,
use posterior means (`VAE.posterior_mean`, never a sampled z), decode with `VAE.mean_image`,
and return tensors; the commands write the files.
Shapes: B images, Z latent dims, S steps.
"""

from __future__ import annotations

import torch

from vaekit.data.batches import ImageSet, batch_indices
from vaekit.models.vae import VAE


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight lines a -> b at fractions t (S,): (S, Z)."""
    return a + t[:, None] * (b - a)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White, "Sampling Generative Networks", 2016):
    along the great circle between a and b, interpolating their norms linearly, which keeps
    points where a Gaussian prior puts its mass. Falls back to lerp for (anti)parallel ends."""
    na, nb = a.norm(), b.norm()
    cos = torch.dot(a, b) / (na * nb).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega.abs() < 1e-4 or (torch.pi - omega).abs() < 1e-4:
        return lerp(a, b, t)
    ua, ub = a / na, b / nb
    direction = (torch.sin((1 - t) * omega)[:, None] * ua + torch.sin(t * omega)[:, None] * ub) / (
        torch.sin(omega)
    )
    return direction * (na + t * (nb - na))[:, None]


METHODS = {"lerp": lerp, "slerp": slerp}


@torch.no_grad()
def interpolate(
    model: VAE, x_from: torch.Tensor, x_to: torch.Tensor, steps: int, method: str = "lerp"
) -> torch.Tensor:
    """Images along the path between the posterior means of two images (1, C, H, W) each:
    (steps, C, H, W), the first and last decoding the endpoints' means."""
    a, b = model.posterior_mean(torch.cat([x_from, x_to]))
    t = torch.linspace(0, 1, steps, device=a.device)
    return model.mean_image(METHODS[method](a, b, t))


@torch.no_grad()
def interpolate_grid(model: VAE, corners: torch.Tensor, steps: int) -> torch.Tensor:
    """A steps x steps grid between four images (top-left, top-right, bottom-left,
    bottom-right), bilinear in latent space: (steps * steps, C, H, W), row by row."""
    tl, tr, bl, br = model.posterior_mean(corners)
    t = torch.linspace(0, 1, steps, device=tl.device)
    left, right = lerp(tl, bl, t), lerp(tr, br, t)  # down each side
    rows = [lerp(left[i], right[i], t) for i in range(steps)]
    return model.mean_image(torch.cat(rows))


@torch.no_grad()
def kl_per_dimension(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """Mean KL(q(z_i|x) || p(z_i)) over the images, per latent dimension: (Z,). For a model
    with one Gaussian layer and a Gaussian prior (`traverse` checks), where q(z|x) is exactly
    the encoder's Gaussian."""
    return model.encode(x).kl_per_dim(model.prior()).mean(0)


@torch.no_grad()
def kl_per_dimension_of(
    model: VAE, data: ImageSet, generator: torch.Generator | None = None, batch_size: int = 250
) -> torch.Tensor:
    """Mean KL per latent dimension over an image set (with its labels, for a conditional
    VAE): (Z,) on the CPU. Closed form for one Gaussian layer under a Gaussian prior; for a
    hierarchy, each layer's closed form given one posterior sample (from `generator`) of the
    layers above. A model without a per-dimension KL (`has_kl_per_dim`) is a ValueError."""
    if not model.has_kl_per_dim:
        raise ValueError("this prior has no closed-form KL per latent dimension")
    device = next(model.parameters()).device
    sums = []  # each batch's (Z,), on the model's device: brought to the host once, at the end
    for index in batch_indices(len(data), batch_size, shuffle=False):
        x = data.scaled(index).to(device)
        y = data.labels[index].to(device) if model.num_classes else None
        sums.append(model.loss(x, generator, y=y).kl_dims.sum(0))
    if not sums:
        return torch.zeros(model.latent_dim)
    # Added in float64 on the host (MPS has no float64).
    return (torch.stack(sums).cpu().double().sum(0) / len(data)).float()


@torch.no_grad()
def traverse(model: VAE, z: torch.Tensor, dims: list[int], span: float, steps: int) -> torch.Tensor:
    """Vary one latent dimension at a time around z (Z,), from -span to +span prior standard
    deviations (the others held): (len(dims) * steps, C, H, W), one row per dimension."""
    prior = model.prior()
    values = torch.linspace(-span, span, steps, device=z.device)
    rows = []
    for d in dims:
        row = z.repeat(steps, 1)
        row[:, d] = prior.mean[0, d] + values * prior.std[0, d]
        rows.append(row)
    return model.mean_image(torch.cat(rows))
