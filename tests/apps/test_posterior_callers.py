"""The apps ask a model only its posterior methods: on a hierarchical VAE (whose posterior is
not the mean path that `encode` once reported) they give what those methods give."""

import torch

from tests.models.test_posterior import _coupled_hvae
from vaekit.apps import latent
from vaekit.apps.anomaly import anomaly_scores, error_map
from vaekit.apps.restore import predictive_spread


def _x(n: int = 4) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(2))


@torch.no_grad()
def test_uncertainty_uses_the_full_posterior():
    vae, x = _coupled_hvae(), _x()
    std, mean, spread = predictive_spread(vae, x, 6, torch.Generator().manual_seed(0))
    torch.testing.assert_close(std, vae.posterior_std(x))
    d1, d2 = vae._features(x)
    q2 = vae.top_head(d2)
    mean_path = vae.posterior_heads[0](torch.cat([d1, vae.top_down[0](q2.mean)], 1))
    assert (std[:, :3] > 1.3 * mean_path.std).all()  # the bottom layer's spread is all there
    g = torch.Generator().manual_seed(0)
    draws = [vae.mean_image(vae.posterior_sample(x, n=1, generator=g)[:, 0]) for _ in range(6)]
    torch.testing.assert_close(mean, torch.stack(draws).mean(0))
    torch.testing.assert_close(spread, torch.stack(draws).std(0), atol=1e-5, rtol=1e-4)


@torch.no_grad()
def test_scores_maps_and_paths_use_the_posterior_mean_and_reconstruction():
    vae, x = _coupled_hvae(), _x()
    recon = vae.reconstruct(x)
    torch.testing.assert_close(error_map(vae, x), (recon - x).abs().mean(1, keepdim=True))
    scores = anomaly_scores(vae, x, torch.arange(4), "recon")
    torch.testing.assert_close(scores, (recon - x).pow(2).flatten(1).mean(1))
    centre, precision = torch.zeros(6), torch.eye(6)
    scores = anomaly_scores(vae, x, torch.arange(4), "latent",
                            latent_gaussian=(centre, precision))  # fmt: skip
    torch.testing.assert_close(scores, vae.posterior_mean(x).pow(2).sum(1))
    path = latent.interpolate(vae, x[:1], x[1:2], steps=3)
    torch.testing.assert_close(path[[0, -1]], recon[:2])
