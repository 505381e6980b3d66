"""What an autoregressive decoder computes once and reuses gives the numbers of the plain
path: the importance-weighted bound with what reads x alone computed once per example
(vaekit.models.importance.repeated_terms) equals the one that decodes every draw in full, and
generation keeping each layer's values (PixelSteps) equals the passes over each pixel's
window."""

from functools import partialmethod

import pytest
import torch

from vaekit.models import importance
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.models.importance import importance_terms, repeated_terms, shares_image
from vaekit.models.pixelcnn import Autoregressive

ROW_BYTES = 2 * 4 * 6 * 5 * 4  # one row of the image part: 2 * width channels, 6 x 5, float32


def model(likelihood: str, channels: int = 1, **kw):
    torch.manual_seed(0)
    config = ModelConfig.create(
        (channels, 6, 5),
        "mlp",
        likelihood=likelihood,
        **{"hidden_dims": (16,), "latent_dim": 3, "autoregressive": 2, "ar_width": 4, **kw},
    )
    return build_vae(config).eval()


def images(likelihood: str, n: int, channels: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    if likelihood == "bernoulli":
        return (torch.rand(n, channels, 6, 5, generator=g) > 0.5).float()
    return torch.randint(0, 256, (n, channels, 6, 5), generator=g).float() / 255


def both(vae, x, k, **kw):
    """The bound's terms by the plain path and by the shared one."""
    index = torch.arange(len(x))
    plain = importance_terms(vae, x, index, k, share_image=False, **kw)
    shared = importance_terms(vae, x, index, k, **kw)
    return plain, shared


@pytest.mark.parametrize("likelihood", ["bernoulli", "logistic"])
@pytest.mark.parametrize("k", [8, 20, 32])
def test_shared_image_part_gives_the_same_bound(likelihood, k):
    vae = model(likelihood)
    x = images(likelihood, 5)
    plain, shared = both(vae, x, k, chunk=16)
    assert torch.allclose(shared.log_likelihood, plain.log_likelihood, atol=0.01, rtol=0)
    assert torch.allclose(shared.rec, plain.rec, atol=0.01, rtol=0)
    assert torch.allclose(shared.kl, plain.kl, atol=1e-5)
    assert shared.log_likelihood.isfinite().all()


@pytest.mark.parametrize("rows", [1, 3, 40])
def test_any_pass_size_gives_the_same_bound(monkeypatch, rows):
    # 1 and 3 rows per pass cut an example's 12 draws into several passes; 40 rows take the
    # draws of all 3 examples at once.
    vae = model("bernoulli")
    x = images("bernoulli", 3)
    plain = importance_terms(vae, x, torch.arange(3), 12, share_image=False)
    monkeypatch.setattr(importance, "AR_PASS_BYTES", rows * ROW_BYTES // torch.get_num_threads())
    assert importance.pass_rows(vae.likelihood.image_part(x), 12) == rows
    shared = importance_terms(vae, x, torch.arange(3), 12)
    assert torch.allclose(shared.log_likelihood, plain.log_likelihood, atol=0.01, rtol=0)
    assert torch.allclose(shared.rec, plain.rec, atol=0.01, rtol=0)


@pytest.mark.parametrize(
    "options",
    [
        {"likelihood": "logistic-mixture-coupled", "channels": 3, "mixtures": 2},
        {"likelihood": "bernoulli", "flow_steps": 1, "flow_hidden": 8},
        {"likelihood": "bernoulli", "prior": "vamp", "prior_components": 3},
        {"likelihood": "bernoulli", "num_classes": 3},
    ],
    ids=["rgb-coupled", "flow", "vamp", "conditional"],
)
def test_repeated_terms_equal_the_model_terms(options):
    options = dict(options)
    channels = options.pop("channels", 1)
    vae = model(options.pop("likelihood"), channels, **options)
    assert shares_image(vae)
    x = images("logistic" if channels == 3 else "bernoulli", 3, channels)
    y = torch.tensor([0, 2, 1]) if vae.num_classes else None
    eps = torch.randn(3, 7, vae.latent_dim, generator=torch.Generator().manual_seed(2))
    pz = vae.prior_density()
    with torch.no_grad():
        want = vae.terms(x, eps, y, pz=pz)
        got = repeated_terms(vae, x, vae.likelihood.image_part(x), eps, y, pz)
    for name in ("log_px", "log_pz", "log_qz"):
        assert torch.allclose(getattr(got, name), getattr(want, name), atol=1e-3, rtol=0), name
    assert (got.kl_dims is None) == (want.kl_dims is None)


def test_the_image_part_is_computed_once_per_example():
    vae = model("bernoulli")
    conv = vae.likelihood.network.layers[0].conv
    seen = []
    conv.register_forward_hook(lambda _m, args, _out: seen.append(args[0].shape[0]))
    importance_terms(vae, images("bernoulli", 3), torch.arange(3), 16, chunk=8)
    assert seen == [3]  # one batch of the 3 images, not 3 * 16 rows
    seen.clear()
    importance_terms(vae, images("bernoulli", 3), torch.arange(3), 16, share_image=False)
    assert sum(seen) == 3 * 16


def test_other_models_take_the_plain_path():
    config = ModelConfig.create((1, 6, 5), "mlp", hidden_dims=(8,), latent_dim=2)
    assert not shares_image(build_vae(config))


@pytest.mark.parametrize(
    ("likelihood", "channels", "layers", "kernel"),
    [("bernoulli", 1, 1, 3), ("bernoulli", 2, 4, 3), ("logistic-mixture-coupled", 3, 2, 5)],
)
def test_generation_keeping_each_layer_equals_the_window_passes(
    monkeypatch, likelihood, channels, layers, kernel
):
    vae = model(likelihood, channels, autoregressive=layers, ar_kernel=kernel, mixtures=2)
    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(3))
    px = vae.decode(z)
    kept = px.greedy(), px.sample(torch.Generator().manual_seed(4))
    windowed = partialmethod(Autoregressive._generate, windowed=True)
    monkeypatch.setattr(Autoregressive, "_generate", windowed)
    passes = px.greedy(), px.sample(torch.Generator().manual_seed(4))
    assert torch.allclose(kept[0], passes[0], atol=1e-5)  # the means shown, rounding aside
    assert torch.equal(kept[1], passes[1])
    assert not torch.equal(kept[1], px.sample(torch.Generator().manual_seed(5)))
