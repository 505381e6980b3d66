"""Checks that run for every registered network family and likelihood."""

import json
from pathlib import Path

import pytest
import torch
from torch import distributions as td

from vaekit.config import to_dict
from vaekit.errors import VaekitError
from vaekit.kinds.base import family, family_names
from vaekit.models.factory import LIKELIHOODS, ModelConfig, build_vae
from vaekit.models.hconv import latent_sizes
from vaekit.models.io import load_model, save_weights, write_config

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 7, 5)]
# Every image likelihood and family; "mixed" is the tables' (tests/models/test_tables.py),
# "rnn" and "categorical" are text's (tests/models/test_text.py).
IMAGE_LIKELIHOODS = [lk for lk in LIKELIHOODS if lk not in ("mixed", "categorical")]
IMAGE_FAMILIES = [f for f in family_names() if f != "rnn"]
COMBOS = [(f, lk, s) for f in IMAGE_FAMILIES for lk in IMAGE_LIKELIHOODS for s in SHAPES]
# Small widths, of which each family takes its own (hidden_dims, channels).
SIZES = {"hidden_dims": (16,), "channels": (4, 8)}


def _model(name, likelihood, shape, seed=0):
    torch.manual_seed(seed)
    own = {k: v for k, v in SIZES.items() if k in family(name).options}
    config = ModelConfig.create(shape, family=name, latent_dim=3, likelihood=likelihood, **own)
    return build_vae(config), config


@pytest.mark.parametrize(("family", "likelihood", "shape"), COMBOS)
def test_shapes_loss_and_gradients(family, likelihood, shape):
    model, _ = _model(family, likelihood, shape)
    x = torch.rand(6, *shape)
    qz = model.encode(x)
    # hvae: two layers of 3; hconv: two 3-channel maps at each of the two scales
    # vqvae: a 3-dimensional code at each position of the map, a quarter of the image's sides
    z = {
        "hvae": 6,
        "hconv": sum(latent_sizes(shape, (4, 8), 3, 2)),
        "vqvae": 3 * ((shape[1] + 3) // 4) * ((shape[2] + 3) // 4),
    }.get(family, 3)
    assert model.latent_dim == z and qz.mean.shape == (6, z) and qz.std.shape == (6, z)
    px = model.decode(qz.mean)
    assert px.mean.shape == (6, *shape)
    out = model.loss(x)
    for term in (out.loss, out.rec, out.kl):
        assert term.shape == (6,) and torch.isfinite(term).all()
    torch.testing.assert_close(out.loss, out.rec + out.kl)
    assert (out.kl >= 0).all()
    out.loss.mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.sample(4).mean.shape == (4, *shape)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_elbo_terms_match_torch_distributions(likelihood):
    model, config = _model("mlp", likelihood, (1, 8, 8))
    x = torch.randint(0, 2, (5, 1, 8, 8)).float()
    out = model.loss(x, torch.Generator().manual_seed(7))
    # Recompute the same single-sample estimate with torch.distributions.
    qz = model.encode(x)
    tq = td.Independent(td.Normal(qz.mean, qz.std), 1)
    z = qz.mean + qz.std * torch.randn(qz.mean.shape, generator=torch.Generator().manual_seed(7))
    h = model.decoder(z)
    if likelihood == "bernoulli":
        px = td.Independent(td.Bernoulli(logits=h), 3)
    else:
        px = td.Independent(td.Normal(h, config.gaussian_std), 3)
    prior = td.Independent(td.Normal(torch.zeros(5, 3), torch.ones(5, 3)), 1)
    torch.testing.assert_close(out.rec, -px.log_prob(x))
    torch.testing.assert_close(out.kl, td.kl_divergence(tq, prior))


def test_conv_decoder_fits_odd_sizes():
    for shape in [(1, 9, 13), (2, 1, 1), (1, 28, 28), (3, 32, 32)]:
        model, _ = _model("conv", "bernoulli", shape)
        assert model.decode(torch.zeros(2, 3)).mean.shape == (2, *shape)


@pytest.mark.parametrize(("family", "likelihood", "shape"), COMBOS[::2])
def test_save_load_gives_the_same_outputs(tmp_path: Path, family, likelihood, shape):
    model, config = _model(family, likelihood, shape)
    write_config(tmp_path, {"model": to_dict(config)})
    save_weights(tmp_path, model)
    loaded, loaded_config, _ = load_model(tmp_path)
    assert loaded_config == config
    model.eval()
    x = torch.rand(4, *shape)
    torch.testing.assert_close(loaded.encode(x).mean, model.encode(x).mean, rtol=0, atol=0)
    z = torch.randn(4, model.latent_dim)
    torch.testing.assert_close(loaded.decode(z).mean, model.decode(z).mean, rtol=0, atol=0)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    torch.testing.assert_close(loaded.loss(x, g1).loss, model.loss(x, g2).loss, rtol=0, atol=0)


def test_load_rejects_bad_configs_and_weights(tmp_path: Path):
    model, config = _model("mlp", "bernoulli", (1, 8, 8))
    write_config(tmp_path, {"model": {**to_dict(config), "bogus": 3}})
    save_weights(tmp_path, model)
    with pytest.raises(VaekitError, match="unknown key 'bogus'"):
        load_model(tmp_path)
    write_config(tmp_path, {"model": {**to_dict(config), "latent_dim": "3"}})
    with pytest.raises(VaekitError, match="latent_dim: expected int"):
        load_model(tmp_path)
    write_config(tmp_path, {"model": {**to_dict(config), "latent_dim": 4}})
    with pytest.raises(VaekitError, match="do not match"):
        load_model(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x80\x04not safetensors")
    write_config(tmp_path, {"model": to_dict(config)})
    with pytest.raises(VaekitError, match="not a readable safetensors"):
        load_model(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "schema_version": 99}))
    with pytest.raises(VaekitError, match="schema version 99"):
        load_model(tmp_path)
    with pytest.raises(VaekitError, match="not a folder"):
        load_model(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VaekitError, match=r"config\.json: missing"):
        load_model(tmp_path / "empty")


def test_unknown_components_are_clear_errors():
    for key, value in (("family", "transformer"), ("likelihood", "poisson"), ("prior", "x")):
        config = ModelConfig(shape=(1, 8, 8), **{key: value})
        with pytest.raises(VaekitError, match="expected one of"):
            build_vae(config)


@pytest.mark.parametrize("conditional", [False, True])
def test_the_one_draw_step_is_the_terms_it_shortens(conditional):
    """The training step's one draw with the closed-form KL skips `terms`' (B, 1) views (fewer
    autograd nodes every step): its losses and gradients are those of `terms`, to the bit,
    with beta, free bits, a denoising target and a label."""
    from vaekit.models.vae import Objective, draws_mean

    torch.manual_seed(0)
    config = ModelConfig.create((1, 8, 8), family="mlp", hidden_dims=(16,), latent_dim=3,
                                num_classes=3 if conditional else 0)  # fmt: skip
    model = build_vae(config)
    x, target = torch.rand(6, 1, 8, 8), torch.rand(6, 1, 8, 8)
    eps, y = torch.randn(6, 1, 3), (torch.arange(6) % 3 if conditional else None)
    objective = Objective(beta=0.5, free_bits=0.05)

    def gradients(loss):
        model.zero_grad()
        loss.sum().backward()
        return [p.grad.clone() for p in model.parameters()]

    out = model.loss(x, None, target, y, objective, eps)
    t = model.terms(x, eps, y, target, densities=False)
    rec, kl_dims = -draws_mean(t.log_px), draws_mean(t.kl_dims)
    floor = kl_dims.detach().mean(0) < 0.05
    minimized = rec + 0.5 * torch.where(floor, 0.05, kl_dims).sum(1)
    assert torch.equal(out.rec, rec) and torch.equal(out.kl, t.kl)
    assert torch.equal(out.loss, rec + t.kl) and torch.equal(out.kl_dims, kl_dims)
    assert torch.equal(out.objective, minimized)
    for a, b in zip(gradients(out.objective), gradients(minimized), strict=True):
        assert torch.equal(a, b)
