"""The latent map's plane (the latents for Z = 2, PCA otherwise), t-SNE and the manifold grid."""

import numpy as np
import pytest
import torch

from vaekit.apps.projection import fit_plane, manifold_latents, tsne


def test_a_2d_latent_space_is_its_own_plane():
    z = torch.randn(50, 2, generator=torch.Generator().manual_seed(0)) * 3 + 1
    plane = fit_plane(z)
    assert plane.axes == ("z0", "z1") and plane.explained == (1.0, 1.0)
    assert torch.allclose(plane.to_plane(z.double()), z.double())
    assert torch.allclose(plane.from_plane(z.double()), z.double())


def test_pca_plane_matches_sklearn_and_maps_back_points_on_it():
    from sklearn.decomposition import PCA

    g = torch.Generator().manual_seed(1)
    # Points on a 2-D affine plane in 5-D, plus a little noise off it.
    coords = torch.randn(200, 2, generator=g, dtype=torch.float64) * torch.tensor([3.0, 1.0])
    basis = torch.linalg.qr(torch.randn(5, 2, generator=g, dtype=torch.float64))[0].T
    shift = torch.randn(5, generator=g, dtype=torch.float64)
    z = shift + coords @ basis + 1e-3 * torch.randn(200, 5, generator=g, dtype=torch.float64)
    plane = fit_plane(z)
    assert plane.axes == ("PC1", "PC2")
    assert torch.allclose(plane.basis @ plane.basis.T, torch.eye(2, dtype=torch.float64))
    reference = PCA(2).fit(z.numpy())
    for ours, theirs in zip(plane.basis.numpy(), reference.components_, strict=True):
        assert abs(abs(float(ours @ theirs)) - 1) < 1e-6  # the same axis, up to sign
    assert sum(plane.explained) == pytest.approx(reference.explained_variance_ratio_.sum())
    assert sum(plane.explained) > 0.999
    assert torch.allclose(plane.from_plane(plane.to_plane(z)), z, atol=1e-2)


def test_a_plane_point_sits_at_the_mean_off_the_plane():
    z = torch.randn(100, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    plane = fit_plane(z)
    back = plane.from_plane(torch.tensor([[1.5, -0.5]], dtype=torch.float64))[0]
    off = (back - z.mean(0)) - (back - z.mean(0)) @ plane.basis.T @ plane.basis
    assert off.abs().max() < 1e-12
    assert plane.to_plane(back[None])[0].tolist() == pytest.approx([1.5, -0.5])


def test_a_plane_needs_two_dimensions():
    with pytest.raises(ValueError, match="at least 2 latent dimensions"):
        fit_plane(torch.zeros(10, 1))


def test_tsne_is_seeded_and_keeps_clusters_apart():
    g = torch.Generator().manual_seed(3)
    centers = torch.tensor([[0.0] * 8, [20.0] * 8])
    z = torch.cat([c + torch.randn(30, 8, generator=g) for c in centers])
    a, b = tsne(z, seed=0), tsne(z, seed=0)
    assert a.shape == (60, 2) and torch.equal(a, b)
    inside = torch.cdist(a[:30], a[:30]).max()
    between = torch.cdist(a[:30], a[30:]).min()
    assert between > inside / 2


def test_manifold_grid_runs_like_a_plot():
    grid = manifold_latents(torch.tensor([-1.0, 0.0, 1.0]), torch.tensor([-2.0, 0.0, 2.0]))
    assert grid.shape == (9, 2)
    np.testing.assert_array_equal(grid[:3].numpy(), [[-1, 2], [0, 2], [1, 2]])  # top row
    np.testing.assert_array_equal(grid[6:].numpy(), [[-1, -2], [0, -2], [1, -2]])
