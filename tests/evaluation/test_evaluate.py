"""Evaluation against closed forms: probabilistic PCA, a uniform model, bound orderings."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from vaekit.data.batches import ImageSet
from vaekit.evaluation.evaluate import EvalConfig, evaluate_vae
from vaekit.models.distributions import DiagonalGaussian
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.models.importance import importance_terms
from vaekit.models.likelihoods import BernoulliLikelihood, GaussianLikelihood
from vaekit.models.networks import MLPDecoder, MLPEncoder
from vaekit.models.priors import StandardNormal
from vaekit.models.vae import VAE

D_SHAPE, Z, SIGMA = (1, 2, 3), 2, 0.5


class PPCAPosterior(nn.Module):
    """A diagonal Gaussian near the exact pPCA posterior: its mean, a widened variance."""

    def __init__(self, w: torch.Tensor, b: torch.Tensor, widen: float) -> None:
        super().__init__()
        m = w.T @ w + SIGMA**2 * torch.eye(w.shape[1])
        self.register_buffer("proj", torch.linalg.solve(m, w.T))  # M^-1 W^T
        self.register_buffer("b", b)
        self.register_buffer("logvar", torch.log(widen * SIGMA**2 * torch.linalg.inv(m).diag()))

    def forward(self, x: torch.Tensor) -> DiagonalGaussian:
        mean = (x.flatten(1) - self.b) @ self.proj.T
        return DiagonalGaussian(mean, self.logvar.expand_as(mean))


def _ppca(w: torch.Tensor, b: torch.Tensor, widen: float = 1.0, n: int = 300):
    """A pPCA model as a VAE (linear decoder W z + b, Gaussian noise SIGMA, N(0, I) prior),
    n samples from it, and their exact log-likelihoods log N(x; b, W W^T + SIGMA^2 I)."""
    d = w.shape[0]
    decoder = nn.Sequential(nn.Linear(Z, d), nn.Unflatten(1, D_SHAPE))
    with torch.no_grad():
        decoder[0].weight.copy_(w)
        decoder[0].bias.copy_(b)
    model = VAE(PPCAPosterior(w, b, widen), decoder, GaussianLikelihood(SIGMA), StandardNormal(Z))
    marginal = torch.distributions.MultivariateNormal(b, w @ w.T + SIGMA**2 * torch.eye(d))
    torch.manual_seed(1)
    x = marginal.sample((n,)).reshape(n, *D_SHAPE)
    return model, x, marginal.log_prob(x.flatten(1))


def _random_w():
    g = torch.Generator().manual_seed(0)
    d = math.prod(D_SHAPE)
    return torch.randn(d, Z, generator=g), torch.randn(d, generator=g)


def test_linear_gaussian_vae_is_ppca_elbo_below_iwae_converges():
    model, x, log_px = _ppca(*_random_w(), widen=1.5)
    data = ImageSet(x, None, 1.0)
    report, _ = evaluate_vae(model, data, EvalConfig(iw_samples=2000, seed=0))
    assert report["kind"] == "log-likelihood" and report["data_support"] == "continuous"
    exact_nll = float(-log_px.mean())
    # The ELBO is a lower bound on log p(x): -ELBO lies above the exact NLL, clearly here.
    assert report["elbo"]["loss"] > exact_nll + 0.05
    # The IWAE estimate with large K reaches the exact value within three standard errors,
    # and never lies below the NLL (above log p(x)) by more than that.
    nll, se = report["iwae"]["nll"], report["iwae"]["stderr"]
    assert abs(nll - exact_nll) < 3 * se
    # Per example, the gap to the exact value is tiny and positive on average.
    terms = importance_terms(model, x, torch.arange(len(x)), 2000, seed=0)
    gap = log_px - terms.log_likelihood
    gap_se = float(gap.std() / math.sqrt(len(gap)))
    assert float(gap.mean()) > -3 * gap_se
    assert float(gap.mean()) < 0.02


def test_exact_posterior_makes_every_bound_tight():
    # With W's columns orthogonal the exact posterior is diagonal, so q can equal it: then
    # every importance weight equals p(x) and each bound is log p(x) itself.
    w, b = _random_w()
    q, _ = torch.linalg.qr(w)
    model, x, log_px = _ppca(q * torch.tensor([2.0, 0.7]), b)
    report, _ = evaluate_vae(model, ImageSet(x, None, 1.0), EvalConfig(iw_samples=50))
    assert report["iwae"]["nll"] == pytest.approx(float(-log_px.mean()), abs=1e-4)
    assert report["elbo"]["loss"] == pytest.approx(float(-log_px.mean()), abs=0.05)


class UniformBytes(nn.Module):
    """p(x|z) uniform over the 256 values of each pixel, whatever z."""

    params_per_channel = 1
    support = "8-bit"

    def forward(self, h: torch.Tensor):
        class Uniform:
            mean = torch.full_like(h, 0.5)

            @staticmethod
            def log_prob(x: torch.Tensor) -> torch.Tensor:
                return torch.full((x.shape[0],), -x[0].numel() * math.log(256))

        return Uniform()


class PriorEncoder(nn.Module):
    def forward(self, x):
        zero = torch.zeros(x.shape[0], 3)
        return DiagonalGaussian(zero, zero)


def test_uniform_model_is_exactly_8_bits_per_dim():
    model = VAE(
        PriorEncoder(), MLPDecoder((3, 4, 4), 3, (8,), 1), UniformBytes(), StandardNormal(3)
    )
    images = torch.randint(0, 256, (40, 3, 4, 4), dtype=torch.uint8)
    report, _ = evaluate_vae(model, ImageSet(images, None, 255.0), EvalConfig(iw_samples=10))
    assert report["kind"] == "log-likelihood" and report["data_support"] == "8-bit"
    assert report["bits_per_dim"]["iwae"] == pytest.approx(8.0, abs=1e-5)
    assert report["bits_per_dim"]["elbo"] == pytest.approx(8.0, abs=1e-5)


def _small_model(seed=0):
    torch.manual_seed(seed)
    enc = MLPEncoder((1, 6, 6), 3, (16,))
    return VAE(enc, MLPDecoder((1, 6, 6), 3, (16,), 1), BernoulliLikelihood(), StandardNormal(3))


def _binary_set(n=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ImageSet(torch.randint(0, 2, (n, 1, 6, 6), generator=g, dtype=torch.uint8), None, 1.0)


def test_results_depend_on_the_seed_only_not_on_batch_or_chunk_sizes():
    model, data = _small_model(), _binary_set()
    base, _ = evaluate_vae(model, data, EvalConfig(iw_samples=100, seed=3))
    again, _ = evaluate_vae(model, data, EvalConfig(iw_samples=100, seed=3))
    assert base == again
    other, _ = evaluate_vae(model, data, EvalConfig(iw_samples=100, seed=3, batch_size=7, chunk=13))
    for key in ("nll", "stderr"):
        assert other["iwae"][key] == pytest.approx(base["iwae"][key], rel=1e-5)
    for key in ("loss", "rec", "kl"):
        assert other["elbo"][key] == pytest.approx(base["elbo"][key], rel=1e-5)
    reseeded, _ = evaluate_vae(model, data, EvalConfig(iw_samples=100, seed=4))
    assert reseeded["iwae"]["nll"] != base["iwae"]["nll"]


def test_objective_is_never_called_a_likelihood():
    model = _small_model()
    gray = ImageSet(torch.randint(0, 256, (20, 1, 6, 6), dtype=torch.uint8), None, 255.0)
    report, _ = evaluate_vae(model, gray, EvalConfig(iw_samples=5))
    assert report["kind"] == "objective" and report["bits_per_dim"] is None
    report, _ = evaluate_vae(model, _binary_set(20), EvalConfig(iw_samples=5))
    assert report["kind"] == "log-likelihood" and report["bits_per_dim"] is None


def test_latent_health_and_reconstruction_numbers():
    model, data = _small_model(), _binary_set()
    report, means = evaluate_vae(model, data, EvalConfig(iw_samples=4))
    assert means.shape == (50, 3)
    lat = report["latents"]
    variances = means.var(0, unbiased=False)
    assert lat["active_units"] == int((variances > 0.01).sum())
    assert len(lat["kl_per_dim"]) == 3
    assert sum(lat["kl_per_dim"]) == pytest.approx(report["elbo"]["kl"], rel=1e-5)
    x = data.images.float()
    with torch.no_grad():
        recon = model.decode(means).mean.clamp(0, 1)
    mse = float((recon - x).pow(2).mean())
    assert report["reconstruction"]["mse"] == pytest.approx(mse, rel=1e-5)
    assert report["reconstruction"]["psnr_db"] == pytest.approx(10 * np.log10(1 / mse), rel=1e-5)


def test_a_hierarchical_vae_is_judged_by_its_full_posterior():
    torch.manual_seed(0)
    config = ModelConfig.create((1, 6, 6), family="hvae", latent_dim=2, hidden_dims=(16,))
    model = build_vae(config).eval()
    data = ImageSet(torch.rand(30, 1, 6, 6), None, 1.0)
    report, means = evaluate_vae(model, data, EvalConfig(iw_samples=2, batch_size=7))
    with torch.no_grad():
        x = data.images
        torch.testing.assert_close(means, model.posterior_mean(x))
        mean_path = torch.cat([q.mean for q in model._top_down(model._features(x), None)[1]], 1)
        assert not torch.allclose(means, mean_path, atol=1e-3)
        mse = float((model.reconstruct(x) - x).pow(2).mean())
    assert report["reconstruction"]["mse"] == pytest.approx(mse, rel=1e-5)


@pytest.mark.parametrize("prior", ["standard-normal", "vamp"])
def test_importance_terms_do_not_depend_on_how_examples_are_grouped(prior):
    # 40 examples x 64 samples per chunk exceed DECODE_ROWS, so they are decoded a few examples
    # at a time; each example's numbers are those it gets when scored on its own.
    config = ModelConfig.create((1, 6, 6), family="mlp", latent_dim=3, prior=prior)
    model = build_vae(config).eval()
    x = torch.rand(40, 1, 6, 6, generator=torch.Generator().manual_seed(0)).round()
    index = torch.arange(100, 140)
    together = importance_terms(model, x, index, 100, seed=3)
    alone = [
        importance_terms(model, x[i : i + 1], index[i : i + 1], 100, seed=3) for i in range(40)
    ]
    for name in ("log_likelihood", "rec", "kl"):
        expected = torch.cat([getattr(t, name) for t in alone])
        torch.testing.assert_close(getattr(together, name), expected, rtol=1e-5, atol=1e-4)
    if prior == "vamp":
        assert together.kl_per_dim is None
    else:
        expected = torch.cat([t.kl_per_dim for t in alone])
        torch.testing.assert_close(together.kl_per_dim, expected, rtol=1e-5, atol=1e-4)
