"""The posterior questions every family answers: posterior_sample, posterior_moments (mean and
std), reconstruct; exact for one Gaussian layer, ancestral for a hierarchy."""

import pytest
import torch

from vaekit.kinds.base import family
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.models.hvae import HierarchicalVAE

# (family, classes): every registered family, and conditional ones.
CASES = [("mlp", 0), ("conv", 0), ("resnet", 0), ("hvae", 0), ("hconv", 0), ("mlp", 3),
         ("conv", 3)]  # fmt: skip


def _model(name: str, classes: int = 0, layers: int = 2):
    torch.manual_seed(0)
    sizes = {"hidden_dims": (16,), "channels": (4, 8), "depth": 1, "layers": layers}
    own = {k: v for k, v in sizes.items() if k in family(name).options}
    config = ModelConfig.create((1, 8, 8), family=name, latent_dim=3, num_classes=classes,
                                likelihood="gaussian", **own)  # fmt: skip
    return build_vae(config).eval()


def _x(n: int = 5, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(("family", "classes"), CASES)
@torch.no_grad()
def test_every_family_answers_the_posterior_questions(family, classes):
    model = _model(family, classes)
    x = _x()
    y = torch.tensor([0, 1, 2, 0, 1]) if classes else None
    z = model.latent_dim
    mean, std = model.posterior_mean(x, y), model.posterior_std(x, y)
    assert mean.shape == std.shape == (5, z) and (std > 0).all()
    torch.testing.assert_close(model.posterior_moments(x, y), (mean, std))
    # encode's mean and std are the same summaries (the posterior itself, for one layer)
    qz = model.encode(x, y)
    torch.testing.assert_close((qz.mean, qz.std), (mean, std))

    draws = model.posterior_sample(x, y, n=4, generator=torch.Generator().manual_seed(0))
    assert draws.shape == (5, 4, z)
    again = model.posterior_sample(x, y, n=4, generator=torch.Generator().manual_seed(0))
    other = model.posterior_sample(x, y, n=4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(draws, again) and not torch.equal(draws, other)

    recon = model.reconstruct(x, y)
    assert recon.shape == x.shape and float(recon.min()) >= 0 and float(recon.max()) <= 1
    torch.testing.assert_close(recon, model.decode(mean, y).mean.clamp(0, 1))

    # A summary does not depend on the batch it is computed in.
    y2 = y[:2] if y is not None else None
    torch.testing.assert_close(model.posterior_mean(x[:2], y2), mean[:2], atol=1e-5, rtol=0)
    torch.testing.assert_close(model.posterior_std(x[:2], y2), std[:2], atol=1e-5, rtol=0)


@pytest.mark.parametrize("classes", [0, 3])
@torch.no_grad()
def test_flat_posterior_is_the_encoders_gaussian_exactly(classes):
    model = _model("mlp", classes)
    x = _x(4)
    y = torch.tensor([0, 2, 1, 1]) if classes else None
    qz = model.encode(x, y)
    draws = model.posterior_sample(x, y, n=3, generator=torch.Generator().manual_seed(5))
    eps = torch.randn(4, 3, 3, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(draws, qz.mean[:, None] + qz.std[:, None] * eps)
    many = model.posterior_sample(x, y, n=40_000, generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(many.mean(1), qz.mean, atol=0.03, rtol=0)
    torch.testing.assert_close(many.std(1), qz.std, atol=0, rtol=0.02)
    assert torch.equal(model.posterior_mean(x, y), qz.mean)
    assert torch.equal(model.posterior_std(x, y), qz.std)
    # A Gaussian likelihood's mean strays outside the pixel range; the reconstruction does not.
    model.decoder.body[-2].bias[:32] += 5
    assert float(model.decode(qz.mean, y).mean.max()) > 1
    assert float(model.reconstruct(x, y).max()) == 1


def _ancestral(vae: HierarchicalVAE, x: torch.Tensor, eps: torch.Tensor):
    """A two-layer HVAE's posterior draws written out by hand for noise eps (B, 6): z_2 from
    q(z_2|x), then z_1 from q(z_1|x, z_2). Returns (z_1, z_2) and q(z_1|x, z_2)."""
    d1, d2 = vae._features(x)
    q2 = vae.top_head(d2)
    z2 = q2.mean + q2.std * eps[:, 3:]
    q1 = vae.posterior_heads[0](torch.cat([d1, vae.top_down[0](z2)], 1))
    return (q1.mean + q1.std * eps[:, :3], z2), q1


@torch.no_grad()
def test_hvae_posterior_sample_is_the_ancestral_draw():
    vae = _model("hvae")
    x = _x(3)
    draws = vae.posterior_sample(x, n=2, generator=torch.Generator().manual_seed(3))
    eps = torch.randn(3, 2, 6, generator=torch.Generator().manual_seed(3))
    for k in range(2):
        (z1, z2), _ = _ancestral(vae, x, eps[:, k])
        torch.testing.assert_close(draws[:, k], torch.cat([z1, z2], 1))


def _coupled_hvae() -> HierarchicalVAE:
    """A two-layer HVAE whose bottom posterior leans hard on the top layer's draw, so the
    bottom layer's spread is mostly the top layer's uncertainty passed down."""
    vae = _model("hvae")
    with torch.no_grad():
        for layer in vae.top_down[0]:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.mul_(3)
        vae.posterior_heads[0].linear.weight[:3, 16:].mul_(5)  # the mean's top-down inputs
    return vae


@torch.no_grad()
def test_hvae_posterior_samples_have_the_spread_of_the_full_posterior():
    vae = _coupled_hvae()
    x = _x(3)
    draws = vae.posterior_sample(x, n=100_000, generator=torch.Generator().manual_seed(0))
    bottom, top = draws[..., :3], draws[..., 3:]

    # Top layer: exactly q(z_2|x).
    q2 = vae.top_head(vae._features(x)[1])
    torch.testing.assert_close(top.var(1), q2.var, atol=0, rtol=0.03)
    # Bottom layer: the law of total variance over an explicit ancestral computation with
    # noise of its own, Var z_1 = E[sigma_1^2(z_2)] + Var[mu_1(z_2)].
    eps = torch.randn(3 * 20_000, 6, generator=torch.Generator().manual_seed(9))
    _, q1 = _ancestral(vae, x.repeat_interleave(20_000, 0), eps)
    mu, var = q1.mean.view(3, 20_000, 3), q1.var.view(3, 20_000, 3)
    total = var.mean(1) + mu.var(1)
    torch.testing.assert_close(bottom.var(1), total, atol=0, rtol=0.05)
    torch.testing.assert_close(bottom.mean(1), mu.mean(1), atol=0.05, rtol=0)
    # The mean path (z_1 given the top layer's mean), which encode used to report, misses
    # most of that spread.
    d1, _ = vae._features(x)
    mean_path = vae.posterior_heads[0](torch.cat([d1, vae.top_down[0](q2.mean)], 1))
    assert (bottom.var(1) > 2 * mean_path.var).all()

    # The summaries follow the samples (Monte Carlo over 64 quasi-random draws).
    mean, std = vae.posterior_moments(x)
    torch.testing.assert_close(mean[:, 3:], q2.mean)  # the top layer's are exact
    torch.testing.assert_close(std[:, 3:], q2.std)
    torch.testing.assert_close(mean, draws.mean(1), atol=0.1 * float(std.max()), rtol=0)
    torch.testing.assert_close(std, draws.std(1), atol=0, rtol=0.15)
