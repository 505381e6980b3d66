"""Flat pictures of a latent space: a plane through the posterior means (the latents
themselves when Z = 2, else their first two principal components, Pearson 1901), which maps
points both ways, and t-SNE (van der Maaten & Hinton 2008) for a map that only looks.

Shapes: N points, Z latent dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

PLANE_MIN_POINTS = 2  # principal components of fewer points are undefined
TSNE_MIN_POINTS = 5  # fewer leave t-SNE no perplexity to work with


@dataclass(frozen=True)
class Plane:
    """A 2-D plane in latent space: z = origin + p @ basis for plane coordinates p (N, 2).

    origin (Z,), basis (2, Z) with orthonormal rows; `explained` is the share of the points'
    variance along each axis (1.0, 1.0 for the identity of a 2-D latent space); `axes` names
    them ("z0", "z1" or "PC1", "PC2")."""

    origin: torch.Tensor
    basis: torch.Tensor
    explained: tuple[float, float]
    axes: tuple[str, str]

    def to_plane(self, z: torch.Tensor) -> torch.Tensor:
        """(N, Z) -> (N, 2): the orthogonal projection onto the plane."""
        return (z - self.origin) @ self.basis.T

    def from_plane(self, p: torch.Tensor) -> torch.Tensor:
        """(N, 2) -> (N, Z): the point of latent space at those plane coordinates; in the
        directions off the plane it sits at the points' mean."""
        return self.origin + p @ self.basis


def fit_plane(points: torch.Tensor) -> Plane:
    """The plane of a set of latents (N, Z), N >= 2: the latents' own axes when Z = 2
    (through the origin, so a plane point is the latent itself), else the first two
    principal components through the points' mean."""
    points = points.detach().to(torch.float64).cpu()
    n, z = points.shape
    if z < 2:
        raise ValueError(f"a plane needs at least 2 latent dimensions, got {z}")
    if z == 2:
        return Plane(
            torch.zeros(2, dtype=torch.float64),
            torch.eye(2, dtype=torch.float64),
            (1.0, 1.0),
            ("z0", "z1"),
        )
    if n < PLANE_MIN_POINTS:
        raise ValueError(f"principal components need at least {PLANE_MIN_POINTS} points")
    origin = points.mean(0)
    _, s, vt = torch.linalg.svd(points - origin, full_matrices=False)
    total = float((s**2).sum()) or 1.0
    explained = (float(s[0] ** 2) / total, float(s[1] ** 2) / total)
    return Plane(origin, vt[:2].contiguous(), explained, ("PC1", "PC2"))


def tsne(points: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A t-SNE map of latents (N, Z): (N, 2). Distances on it are not latent distances, and
    it has no inverse: for looking only. PCA first to 50 dimensions where Z is larger."""
    from sklearn.manifold import TSNE

    x = points.detach().to(torch.float64).cpu().numpy()
    if len(x) < TSNE_MIN_POINTS:
        raise ValueError(f"t-SNE needs at least {TSNE_MIN_POINTS} points, got {len(x)}")
    perplexity = min(30.0, (len(x) - 1) / 3)
    init = "pca" if x.shape[1] >= 2 else "random"
    mapped = TSNE(2, perplexity=perplexity, init=init, random_state=seed).fit_transform(x)
    return torch.from_numpy(mapped)


def manifold_latents(z0: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
    """The latents of a grid over a 2-D latent space from the values of each axis (S,):
    (S * S, 2), row by row, z0 rising along a row and z1 falling down the rows (as a plot's
    axes run)."""
    rows = [torch.stack([z0, v.expand(len(z0))], dim=1) for v in z1.flip(0)]
    return torch.cat(rows)
