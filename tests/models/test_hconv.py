"""The convolutional hierarchical VAE (models/hconv.py): its latent layout, the residual
normal posterior, the top-down dependencies, the bounds, and its terms against a recomputation
with torch.distributions."""

import pytest
import torch
from torch import distributions as td

from vaekit.errors import VaekitError
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.models.hconv import BOUND, ConvHierarchicalVAE, latent_sizes, soft_bound

SHAPE = (1, 12, 10)


def _model(seed: int = 0, groups: int = 2, perturb: bool = True) -> ConvHierarchicalVAE:
    torch.manual_seed(seed)
    config = ModelConfig.create(SHAPE, family="hconv", latent_dim=2, channels=(4, 6), depth=1,
                                layers=groups, likelihood="bernoulli")  # fmt: skip
    vae = build_vae(config)
    assert isinstance(vae, ConvHierarchicalVAE)
    if perturb:  # the heads start at zero (q = p = N(0, I)); give them something to do
        with torch.no_grad():
            for p in vae.parameters():
                p.add_(0.3 * torch.randn_like(p))
    return vae.eval()


def _x(n: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return (torch.rand(n, *SHAPE, generator=g) > 0.5).float()


def test_latent_layout_is_per_group_bottom_first():
    vae = _model(groups=2, perturb=False)
    # scales 6x5 and 3x3; two groups of 2 channels at each, finest first
    assert latent_sizes(SHAPE, (4, 6), 2, 2) == (60, 60, 18, 18)
    assert vae.layer_sizes == (60, 60, 18, 18) and vae.latent_dim == 156
    assert vae.visits == (1, 1, 0, 0)  # coarsest scale visited first


@torch.no_grad()
def test_at_initialization_the_posterior_is_the_prior_and_the_prior_standard():
    vae, x = _model(perturb=False), _x()
    feats = vae._features(x)
    _, qs, ps, _ = vae._walk(len(x), feats, torch.randn(len(x), vae.latent_dim))
    for q, p in zip(qs, ps, strict=True):
        assert torch.equal(q.mean, p.mean) and torch.equal(q.logvar, p.logvar)
        assert torch.equal(p.mean, torch.zeros_like(p.mean))
        assert torch.equal(p.logvar, torch.zeros_like(p.logvar))
    out = vae.loss(x)
    torch.testing.assert_close(out.kl, torch.zeros(len(x)))


@torch.no_grad()
def test_terms_match_torch_distributions():
    """log p(x|z), log p(z), log q(z|x) and the per-group KL, recomputed group by group with
    torch.distributions from the same draws."""
    vae, x = _model(), _x()
    eps = torch.randn(len(x), 1, vae.latent_dim, generator=torch.Generator().manual_seed(3))
    terms = vae.terms(x, eps)
    zs, qs, ps, params = vae._walk(len(x), vae._features(x), eps[:, 0])
    log_q = log_p = 0.0
    for z, q, p, size in zip(zs, qs, ps, vae.layer_sizes, strict=True):
        assert z.shape == (len(x), size)
        tq, tp = td.Normal(q.mean, q.std), td.Normal(p.mean, p.std)
        log_q = log_q + tq.log_prob(z).sum(1)
        log_p = log_p + tp.log_prob(z).sum(1)
    px = td.Independent(td.Bernoulli(logits=params.float()), 3)
    torch.testing.assert_close(terms.log_px[:, 0], px.log_prob(x))
    torch.testing.assert_close(terms.log_qz[:, 0], log_q)
    torch.testing.assert_close(terms.log_pz[:, 0], log_p)
    kl = sum(td.kl_divergence(td.Normal(q.mean, q.std), td.Normal(p.mean, p.std)).sum(1)
             for q, p in zip(qs, ps, strict=True))  # fmt: skip
    torch.testing.assert_close(terms.kl_dims[:, 0].sum(1), kl)


@torch.no_grad()
def test_decode_walks_the_same_path_as_the_posterior():
    """The likelihood depends on every group: decoding the posterior's own draw gives the
    terms' log p(x|z), and changing only the top group or only the bottom one changes it."""
    vae, x = _model(), _x()
    eps = torch.randn(len(x), 1, vae.latent_dim, generator=torch.Generator().manual_seed(4))
    z = vae._posterior_given_noise(x, eps)[:, 0]
    torch.testing.assert_close(vae.decode(z).log_prob(x), vae.terms(x, eps).log_px[:, 0])
    top = vae.offsets[-2]  # the top group: last in the bottom-first layout
    for lo, hi in ((top, vae.latent_dim), (0, vae.layer_sizes[0])):
        moved = z.clone()
        moved[:, lo:hi] += 1.0
        assert not torch.allclose(vae.decode(moved).log_prob(x), vae.decode(z).log_prob(x))


@torch.no_grad()
def test_a_groups_prior_depends_on_the_groups_above_and_not_below():
    vae = _model()
    noise = torch.randn(2, vae.latent_dim, generator=torch.Generator().manual_seed(5))
    _, _, ps, _ = vae._walk(2, None, noise)
    changed = noise.clone()
    changed[:, vae.offsets[1] : vae.offsets[2]] += 2.0  # the second group from the bottom
    _, _, ps2, _ = vae._walk(2, None, changed)
    assert torch.equal(ps[1].mean, ps2[1].mean)  # its own prior is fixed before it is drawn
    assert torch.equal(ps[2].mean, ps2[2].mean)  # so are those above it
    assert not torch.allclose(ps[0].mean, ps2[0].mean)  # the one below reads it


@torch.no_grad()
def test_means_and_log_variances_stay_within_the_soft_bound():
    vae, x = _model(), _x()
    with torch.no_grad():
        for head in [*vae.prior_heads, *vae.posterior_heads]:
            head[1].weight.mul_(1e4)
    _, qs, ps, _ = vae._walk(len(x), vae._features(x), torch.zeros(len(x), vae.latent_dim))
    for g in [*qs, *ps]:
        assert torch.isfinite(g.mean).all() and torch.isfinite(g.logvar).all()
    for p in ps:
        assert p.mean.abs().max() <= BOUND and p.logvar.abs().max() <= 2 * BOUND
    x0 = torch.linspace(-50, 50, 101)
    assert soft_bound(x0, 5).abs().max() <= 5
    torch.testing.assert_close(soft_bound(torch.tensor([1e-3]), 5), torch.tensor([1e-3]))


def test_sampling_draws_maps_of_the_right_sizes_and_temperature_zero_is_the_prior_mean():
    vae = _model()
    g = torch.Generator().manual_seed(0)
    z = vae.sample_latents(4, g)
    assert z.shape == (4, vae.latent_dim) and torch.isfinite(z).all()
    cold = vae.sample_latents(2, g, temperature=0.0)
    means, _, _, _ = vae._walk(2, None, None, output=False)
    torch.testing.assert_close(cold, torch.cat(means, dim=1))
    assert vae.sample(3).mean.shape == (3, *SHAPE)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"channels": (4,), "layers": 1}, "at least 2 latent groups"),
        ({"latent_dim": 64, "shape": (1, 64, 64)}, "more than the 21,201"),
        ({"prior": "vamp"}, "hconv has its own hierarchical prior"),
        ({"flow_steps": 2}, "hconv's posterior is its own hierarchy"),
        ({"autoregressive": 2}, "not hconv"),
    ],
)
def test_configurations_it_cannot_build_are_refused_in_one_line(changes, message):
    config = {"shape": SHAPE, "family": "hconv", "latent_dim": 2, "channels": (4, 6), **changes}
    with pytest.raises(VaekitError, match=message):
        build_vae(ModelConfig.create(**config))
