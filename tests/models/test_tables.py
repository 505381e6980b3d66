"""The table VAE's pieces: the mixed likelihood against torch.distributions (Normal for the
numeric columns, Categorical for the categorical ones), missing entries masked out, and an
encoder that takes missing values without NaN reaching its output or gradients."""

import math

import pytest
import torch
from torch.distributions import Categorical, Normal

from vaekit.kinds.table.data_schema import Column, TableSchema
from vaekit.kinds.table.model import MixedLikelihood, TableEncoder
from vaekit.models.factory import ModelConfig, build_vae

SCHEMA = TableSchema(
    (
        Column("t", "numeric", 10.0, 2.0),
        Column("mode", "categorical", categories=("a", "b", "c")),
        Column("p", "numeric", 0.0, 1.0),
        Column("ok", "categorical", categories=("no", "yes")),
    )
)


def rows(b: int, generator: torch.Generator) -> torch.Tensor:
    x = torch.empty(b, 4)
    x[:, 0] = torch.randn(b, generator=generator)
    x[:, 1] = torch.randint(0, 3, (b,), generator=generator).float()
    x[:, 2] = torch.randn(b, generator=generator)
    x[:, 3] = torch.randint(0, 2, (b,), generator=generator).float()
    return x


def reference(likelihood: MixedLikelihood, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p per column (B, 4) from torch.distributions, read from h as documented."""
    mean = h[:, :2]
    if likelihood.variance == "pixel":
        std, rest = h[:, 2:4].exp(), h[:, 4:]
    elif likelihood.variance == "global":
        std, rest = likelihood.log_std.exp().expand(len(h), 2), h[:, 2:]
    else:
        std, rest = torch.full_like(mean, likelihood.std), h[:, 2:]
    out = torch.stack(
        [
            Normal(mean[:, 0], std[:, 0]).log_prob(x[:, 0]),
            Categorical(logits=rest[:, :3]).log_prob(x[:, 1].long()),
            Normal(mean[:, 1], std[:, 1]).log_prob(x[:, 2]),
            Categorical(logits=rest[:, 3:5]).log_prob(x[:, 3].long()),
        ],
        dim=1,
    )
    return out


@pytest.mark.parametrize("variance", ["fixed", "global", "pixel"])
def test_log_prob_matches_torch_distributions(variance: str):
    g = torch.Generator().manual_seed(0)
    likelihood = MixedLikelihood(SCHEMA, variance, std=0.7)
    if variance == "global":
        likelihood.log_std.data = torch.tensor([0.3, -0.4])
    h = torch.randn(6, likelihood.width, generator=g)
    x = rows(6, g)
    px = likelihood(h)
    want = reference(likelihood, h, x)
    torch.testing.assert_close(px.log_prob_per_column(x.view(6, 1, 1, 4)), want)
    torch.testing.assert_close(px.log_prob(x.view(6, 1, 1, 4)), want.sum(1))


def test_missing_entries_are_left_out_of_the_likelihood():
    g = torch.Generator().manual_seed(1)
    likelihood = MixedLikelihood(SCHEMA, "pixel")
    h = torch.randn(5, likelihood.width, generator=g, requires_grad=True)
    x = rows(5, g)
    missing = torch.rand(5, 4, generator=g) < 0.4
    full = reference(likelihood, h, x)
    got = likelihood(h).log_prob_per_column(x.masked_fill(missing, math.nan))
    torch.testing.assert_close(got, full.masked_fill(missing, 0.0))
    got.sum().backward()
    assert torch.isfinite(h.grad).all()


def test_the_mean_is_the_numeric_means_and_the_most_probable_categories():
    likelihood = MixedLikelihood(SCHEMA, "fixed", 1.0)
    h = torch.tensor([[0.5, -1.0, 0.0, 3.0, 1.0, 2.0, -2.0]])
    assert likelihood(h).mean.flatten().tolist() == [0.5, 1.0, -1.0, 0.0]


def test_the_encoder_sees_values_categories_and_the_mask():
    encoder = TableEncoder(SCHEMA, latent_dim=2, hidden_dims=(8,))
    x = torch.tensor([[0.5, 2.0, math.nan, 1.0]]).view(1, 1, 1, 4)
    features = encoder.features(x)
    # numeric (t, p), one-hot (mode: a b c, ok: no yes), observed (t, mode, p, ok)
    assert features.tolist() == [[0.5, 0.0, 0, 0, 1, 0, 1, 1, 1, 0, 1]]
    qz = encoder(x)
    assert torch.isfinite(qz.mean).all()


def test_a_table_model_is_built_from_its_config_and_refuses_image_options():
    config = ModelConfig.create(
        (1, 1, 4),
        "mlp",
        latent_dim=3,
        hidden_dims=(16,),
        likelihood="mixed",
        kind="table",
        schema=SCHEMA.to_json(),
    )
    vae = build_vae(config)
    g = torch.Generator().manual_seed(2)
    x = rows(8, g).view(8, 1, 1, 4)
    x[0, 0, 0, 1] = math.nan
    out = vae.loss(x, g)
    assert out.loss.shape == (8,) and torch.isfinite(out.loss).all()
    assert torch.equal(vae.reconstruct(x)[:, 0, 0, 1], vae.reconstruct(x)[:, 0, 0, 1].round())
    with pytest.raises(Exception, match="tables take --model mlp"):
        ModelConfig.create((1, 1, 4), "conv", likelihood="mixed", kind="table",
                           schema=SCHEMA.to_json()).validate()  # fmt: skip
    with pytest.raises(Exception, match="is for tables"):
        ModelConfig.create((1, 8, 8), "mlp", likelihood="mixed").validate()
