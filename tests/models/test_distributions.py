"""The distributions against torch.distributions on random inputs."""

import math

import torch
from torch import distributions as td

from vaekit.models.distributions import Bernoulli, DiagonalGaussian, Gaussian
from vaekit.models.priors import StandardNormal


def _gaussians(seed=0, b=5, z=7):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, z, generator=g), torch.randn(b, z, generator=g)


def test_diagonal_gaussian_log_prob_and_kl_match_torch():
    mean, logvar = _gaussians(0)
    mean2, logvar2 = _gaussians(1)
    q, p = DiagonalGaussian(mean, logvar), DiagonalGaussian(mean2, logvar2)
    tq = td.Independent(td.Normal(mean, torch.exp(0.5 * logvar)), 1)
    tp = td.Independent(td.Normal(mean2, torch.exp(0.5 * logvar2)), 1)
    z = torch.randn(5, 7)
    torch.testing.assert_close(q.log_prob(z), tq.log_prob(z))
    torch.testing.assert_close(q.kl(p), td.kl_divergence(tq, tp))
    # Against the standard normal, broadcast from a (1, Z) prior.
    zero = torch.zeros(1, 7)
    std_normal = td.Independent(td.Normal(torch.zeros(5, 7), torch.ones(5, 7)), 1)
    torch.testing.assert_close(q.kl(DiagonalGaussian(zero, zero)), td.kl_divergence(tq, std_normal))


def test_the_kl_from_the_standard_normal_prior_takes_the_short_form_and_agrees():
    mean, logvar = _gaussians(2)
    q = DiagonalGaussian(mean, logvar)
    prior = StandardNormal(7)(1)  # what every training step of a plain VAE asks for
    assert prior.is_standard and not q.is_standard
    zero = torch.zeros(1, 7)
    general = q.kl_per_dim(DiagonalGaussian(zero, zero))  # the general formula's path
    torch.testing.assert_close(q.kl_per_dim(prior), general)
    std_normal = td.Independent(td.Normal(torch.zeros(5, 7), torch.ones(5, 7)), 1)
    tq = td.Independent(td.Normal(mean, torch.exp(0.5 * logvar)), 1)
    torch.testing.assert_close(q.kl(prior), td.kl_divergence(tq, std_normal))
    torch.testing.assert_close(prior.log_prob(mean), std_normal.log_prob(mean))


def test_rsample_is_reparameterized_and_has_the_right_moments():
    mean = torch.tensor([[1.0, -2.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, math.log(0.25)]], requires_grad=True)
    q = DiagonalGaussian(mean.expand(200_000, 2), logvar.expand(200_000, 2))
    z = q.rsample(torch.Generator().manual_seed(0))
    torch.testing.assert_close(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.01, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 0.5]), atol=0.01, rtol=0)
    z.sum().backward()
    assert mean.grad is not None and logvar.grad is not None
    assert torch.all(mean.grad == 200_000)


def test_rsample_is_reproducible_with_a_generator():
    q = DiagonalGaussian(*_gaussians(0))
    a = q.rsample(torch.Generator().manual_seed(5))
    b = q.rsample(torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_extreme_logvar_stays_finite():
    q = DiagonalGaussian(torch.zeros(2, 3), torch.tensor([[-1e4, 0.0, 1e4]] * 2))
    zero = torch.zeros(1, 3)
    assert torch.isfinite(q.kl(DiagonalGaussian(zero, zero))).all()
    assert torch.isfinite(q.rsample()).all()


def test_bernoulli_matches_torch_on_binary_and_is_bce_on_gray():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 1, 5, 5, generator=g)
    x = torch.randint(0, 2, (4, 1, 5, 5), generator=g).float()
    expected = td.Independent(td.Bernoulli(logits=logits), 3).log_prob(x)
    torch.testing.assert_close(Bernoulli(logits).log_prob(x), expected)
    gray = torch.rand(4, 1, 5, 5, generator=g)
    p = torch.sigmoid(logits)
    manual = (gray * torch.log(p) + (1 - gray) * torch.log1p(-p)).flatten(1).sum(1)
    torch.testing.assert_close(Bernoulli(logits).log_prob(gray), manual)
    torch.testing.assert_close(Bernoulli(logits).mean, p)


def test_gaussian_matches_torch():
    g = torch.Generator().manual_seed(0)
    mean, x = torch.randn(3, 2, 4, 4, generator=g), torch.rand(3, 2, 4, 4, generator=g)
    expected = td.Independent(td.Normal(mean, 0.1), 3).log_prob(x)
    torch.testing.assert_close(Gaussian(mean, 0.1).log_prob(x), expected)
