"""Priors, objectives and the hierarchical VAE against closed forms and torch.distributions."""

import math

import pytest
import torch
from torch import distributions as td

from vaekit.models.distributions import DiagonalGaussian
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.models.priors import GaussianMixture, MixtureOfGaussians, StandardNormal, VampPrior
from vaekit.models.vae import Objective


def _x(b=6, shape=(1, 6, 6), seed=0):
    return torch.rand(b, *shape, generator=torch.Generator().manual_seed(seed)).round()


def test_mog_log_prob_matches_torch_mixture():
    prior = MixtureOfGaussians(3, components=4)
    with torch.no_grad():
        prior.logvars.normal_()
    mix = td.MixtureSameFamily(
        td.Categorical(logits=torch.zeros(4)),
        td.Independent(td.Normal(prior.means, torch.exp(0.5 * prior.logvars)), 1),
    )
    z = torch.randn(10, 3)
    torch.testing.assert_close(prior.log_prob(z), mix.log_prob(z).detach())
    assert prior.sample(7, torch.Generator().manual_seed(0)).shape == (7, 3)
    # Its draws come from the mixture: with components far apart, a quarter near each, with
    # the component's own spread (scaled by the temperature).
    with torch.no_grad():
        prior.means.copy_(20.0 * torch.arange(4.0)[:, None].expand(4, 3))
        prior.logvars.copy_(torch.log(torch.tensor([0.25, 1.0, 4.0, 9.0]))[:, None].expand(4, 3))
    for temperature in (1.0, 0.5):
        draws = prior.sample(20_000, torch.Generator().manual_seed(1), temperature).detach()
        nearest = ((draws[:, None] - prior.means[None]) ** 2).sum(-1).argmin(1)
        for k, std in enumerate((0.5, 1.0, 2.0, 3.0)):
            mine = draws[nearest == k]
            assert abs(len(mine) / 20_000 - 0.25) < 0.02
            torch.testing.assert_close(mine.mean(0), prior.means[k].detach(), atol=0.1, rtol=0)
            torch.testing.assert_close(mine.std(0), torch.full((3,), temperature * std),
                                       atol=0.05 * std, rtol=0)  # fmt: skip


def _direct_mixture_log_prob(z, means, logvars):
    """The textbook sum over components, in float64: every (sample, component) pair formed."""
    z, means, logvars = z.double(), means.double(), logvars.double()
    d = z[:, None, :] - means[None]
    log_n = -0.5 * (math.log(2 * math.pi) + logvars[None] + d * d / logvars.exp()[None]).sum(-1)
    return torch.logsumexp(log_n, 1) - math.log(len(means))


def test_gaussian_mixture_by_matrix_products_keeps_its_digits():
    # Narrow components (std down to e^-10) far from the origin, z near and far from them: the
    # expanded square would cancel to garbage in float32 without centring and float64.
    g = torch.Generator().manual_seed(0)
    means = 30 + torch.randn(50, 16, generator=g)
    logvars = torch.empty(50, 16).uniform_(-20, 2, generator=g)
    near = means[:20] + torch.randn(20, 16, generator=g) * torch.exp(0.5 * logvars[:20])
    far = 30 + 3 * torch.randn(20, 16, generator=g)
    z = torch.cat([near, far])
    expected = _direct_mixture_log_prob(z, means, logvars)
    got = GaussianMixture(means, logvars).log_prob(z)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), expected, rtol=1e-6, atol=1e-3)
    # Under bfloat16 autocast (training with --precision bf16) it still runs in full precision.
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.testing.assert_close(GaussianMixture(means, logvars).log_prob(z), got)
    # Gradients match the direct form's.
    m, lv, zz = (t.clone().requires_grad_() for t in (means, logvars, near))
    GaussianMixture(m, lv).log_prob(zz).sum().backward()
    m2, lv2, zz2 = (t.double().requires_grad_() for t in (means, logvars, near))
    _direct_mixture_log_prob(zz2, m2, lv2).sum().backward()
    for a, b in ((m, m2), (lv, lv2), (zz, zz2)):
        torch.testing.assert_close(a.grad.double(), b.grad, rtol=1e-4, atol=1e-4)


def test_vamp_prior_is_the_mixture_of_posteriors_at_its_pseudo_inputs():
    vae = build_vae(
        ModelConfig.create(
            shape=(1, 6, 6),
            family="mlp",
            latent_dim=3,
            prior="vamp",
            prior_components=5,
            hidden_dims=(16,),
        )
    )
    assert isinstance(vae.prior, VampPrior)
    z = torch.randn(8, 3)
    q = vae.encode(torch.sigmoid(vae.prior.pseudo_inputs))
    per_component = torch.stack(
        [
            DiagonalGaussian(
                q.mean[k : k + 1].expand(8, 3), q.logvar[k : k + 1].expand(8, 3)
            ).log_prob(z)
            for k in range(5)
        ],
        dim=1,
    )
    expected = torch.logsumexp(per_component, 1) - math.log(5)
    torch.testing.assert_close(vae.prior.log_prob(z, vae._prior_encoder), expected)
    # The pseudo-inputs learn: the prior's density has a gradient with respect to them.
    vae.prior.log_prob(z, vae._prior_encoder).sum().backward()
    assert vae.prior.pseudo_inputs.grad.abs().sum() > 0


def test_terms_are_consistent_log_densities():
    vae = build_vae(ModelConfig.create((1, 6, 6), family="mlp", latent_dim=4, hidden_dims=(16,)))
    x = _x()
    eps = torch.randn(6, 3, 4)
    t = vae.terms(x, eps)
    qz = vae.encode(x)
    z = qz.mean[:, None] + qz.std[:, None] * eps
    q_rep = DiagonalGaussian(qz.mean.repeat_interleave(3, 0), qz.logvar.repeat_interleave(3, 0))
    torch.testing.assert_close(t.log_qz, q_rep.log_prob(z.reshape(18, 4)).view(6, 3))
    torch.testing.assert_close(t.log_pz, StandardNormal(4)(1).log_prob(z.reshape(18, 4)).view(6, 3))
    # The closed-form KL is the average of log q - log p over many samples.
    many = vae.terms(x, torch.randn(6, 20000, 4))
    torch.testing.assert_close(many.kl, (many.log_qz - many.log_pz).mean(1), atol=0.05, rtol=0)


def test_objectives():
    torch.manual_seed(0)
    vae = build_vae(ModelConfig.create((1, 6, 6), family="mlp", latent_dim=4, hidden_dims=(16,)))
    x = _x()
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    plain = vae.loss(x, g())
    torch.testing.assert_close(plain.objective, plain.loss)
    torch.testing.assert_close(plain.loss, plain.rec + plain.kl)
    beta0 = vae.loss(x, g(), objective=Objective(beta=0.0))
    torch.testing.assert_close(beta0.objective, beta0.rec)
    # Free bits: a floor above every dimension's KL freezes the KL term (no gradient).
    high = vae.loss(x, g(), objective=Objective(free_bits=100.0))
    torch.testing.assert_close(high.objective, high.rec + 4 * 100.0)
    # ... and a floor of 0 changes nothing.
    zero = vae.loss(x, g(), objective=Objective(free_bits=1e-12))
    torch.testing.assert_close(zero.objective, plain.objective)
    # IWAE with K samples: on average a tighter bound than the one-sample ELBO.
    iw = vae.loss(x.repeat(50, 1, 1, 1), g(), objective=Objective(iw_samples=20))
    elbo = vae.loss(x.repeat(50, 1, 1, 1), g())
    assert iw.loss.mean() < elbo.loss.mean()
    torch.testing.assert_close(iw.objective, iw.loss)


def test_the_iwae_bound_is_the_papers_with_torch_distributions():
    """-log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x) for the same draws z_k = mean + std eps_k
    (Burda et al. 2016), each density from torch.distributions: the loss with K = 5 is it."""
    torch.manual_seed(0)
    vae = build_vae(ModelConfig.create((1, 6, 6), family="mlp", latent_dim=4, hidden_dims=(16,)))
    x, k = _x(), 5
    eps = torch.randn(len(x), k, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = vae.loss(x, eps=eps, objective=Objective(iw_samples=k)).loss
        q = vae.encode(x)
        std = (0.5 * q.logvar).exp()
        z = q.mean[:, None] + std[:, None] * eps  # (B, K, Z)
        log_q = td.Normal(q.mean[:, None], std[:, None]).log_prob(z).sum(-1)
        log_p = td.Normal(0.0, 1.0).log_prob(z).sum(-1)
        logits = vae.decode(z.reshape(-1, 4)).logits.reshape(len(x), k, -1)
        log_px = td.Bernoulli(logits=logits).log_prob(x.reshape(len(x), 1, -1)).sum(-1)
        want = -(torch.logsumexp(log_px + log_p - log_q, dim=1) - math.log(k))
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-5)


def test_free_bits_stop_the_gradient_below_the_floor():
    vae = build_vae(ModelConfig.create((1, 6, 6), family="mlp", latent_dim=4, hidden_dims=(16,)))
    out = vae.loss(_x(), torch.Generator().manual_seed(0), objective=Objective(free_bits=100.0))
    (out.objective - out.rec).mean().backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in vae.parameters())


def test_mixture_prior_kl_is_the_sample_estimate():
    vae = build_vae(
        ModelConfig.create((1, 6, 6), family="mlp", latent_dim=3, prior="mog", hidden_dims=(16,))
    )
    t = vae.terms(_x(), torch.randn(6, 5, 3))
    assert t.kl_dims is None
    torch.testing.assert_close(t.kl, (t.log_qz - t.log_pz).mean(1))
    with pytest.raises(ValueError, match="free bits"):
        vae.loss(_x(), objective=Objective(free_bits=0.5))


def _hvae(layers=3):
    return build_vae(
        ModelConfig.create((1, 6, 6), family="hvae", latent_dim=3, layers=layers, hidden_dims=(16,))
    )


def test_hvae_shapes_and_per_layer_kl():
    vae = _hvae(3)
    x = _x()
    assert vae.layer_sizes == (3, 3, 3) and vae.latent_dim == 9
    assert vae.encode(x).mean.shape == (6, 9)
    assert vae.decode(torch.randn(6, 9)).mean.shape == (6, 1, 6, 6)
    assert vae.sample_latents(5, torch.Generator().manual_seed(0)).shape == (5, 9)
    t = vae.terms(x, torch.randn(6, 4, 9))
    assert t.log_px.shape == t.log_pz.shape == t.log_qz.shape == (6, 4)
    assert t.kl_dims.shape == (6, 4, 9)
    # Each layer's closed-form KL (given the samples above it) averages to log q - log p.
    many = vae.terms(x, torch.randn(6, 20000, 9))
    torch.testing.assert_close(many.kl, (many.log_qz - many.log_pz).mean(1), atol=0.1, rtol=0)


def test_hvae_log_densities_match_an_explicit_ancestral_computation():
    vae = _hvae(2)
    x = _x(2)
    eps = torch.randn(2, 1, 6)
    t = vae.terms(x, eps)
    d1, d2 = vae._features(x)
    q2 = vae.top_head(d2)
    z2 = q2.mean + q2.std * eps[:, 0, 3:]
    h = vae.top_down[0](z2)
    p1, q1 = vae.prior_heads[0](h), vae.posterior_heads[0](torch.cat([d1, h], 1))
    z1 = q1.mean + q1.std * eps[:, 0, :3]
    log_q = q2.log_prob(z2) + q1.log_prob(z1)
    log_p = StandardNormal(3)(1).log_prob(z2) + p1.log_prob(z1)
    torch.testing.assert_close(t.log_qz[:, 0], log_q)
    torch.testing.assert_close(t.log_pz[:, 0], log_p)
    torch.testing.assert_close(t.log_px[:, 0], vae.decode(torch.cat([z1, z2], 1)).log_prob(x))


def test_conditional_vae_uses_the_label():
    torch.manual_seed(0)
    vae = build_vae(
        ModelConfig.create((1, 6, 6), family="conv", latent_dim=3, num_classes=4, channels=(4,))
    )
    x, z = _x(2), torch.randn(2, 3)
    y0, y1 = torch.tensor([0, 0]), torch.tensor([1, 1])
    assert not torch.equal(vae.decode(z, y0).mean, vae.decode(z, y1).mean)
    assert not torch.equal(vae.encode(x, y0).mean, vae.encode(x, y1).mean)
    with pytest.raises(ValueError, match="labels"):
        vae.encode(x)
