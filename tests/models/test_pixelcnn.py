"""The autoregressive (PixelCNN) decoder: causal masks, exact normalization, generation that
matches scoring, training, and saved models that load (and older files that still do)."""

import itertools
import json
from pathlib import Path

import pytest
import torch

import vaekit
from tests.conftest import write_npz
from vaekit.errors import VaekitError
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.models.io import SCHEMA_VERSION, read_config
from vaekit.models.pixelcnn import PROGRESS_NAME, MaskedConv2d, PixelCNN, pointwise
from vaekit.progress import reporting


def tiny(shape=(1, 5, 5), likelihood="bernoulli", family="conv", **kw) -> ModelConfig:
    base = dict(latent_dim=3, autoregressive=2, ar_width=4)
    base |= {"channels": (4,)} if family == "conv" else {}  # conv's own; other families' kw
    return ModelConfig.create(shape, family, likelihood=likelihood, mixtures=2, **{**base, **kw})


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_pointwise_is_the_1x1_convolution_with_its_gradients(layout):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(6, 5, 1)
    x = torch.randn(3, 6, 4, 7).contiguous(memory_format=layout).requires_grad_()
    ours = pointwise(conv, x)
    ours_grads = torch.autograd.grad(ours.square().sum(), [x, conv.weight, conv.bias])
    theirs = conv(x)
    their_grads = torch.autograd.grad(theirs.square().sum(), [x, conv.weight, conv.bias])
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs)
    for a, b in zip(ours_grads, their_grads, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(("layers", "kernel"), [(1, 3), (2, 3), (3, 5)])
def test_no_output_depends_on_its_own_pixel_or_a_later_one(layers, kernel):
    torch.manual_seed(0)
    c, h, w = 2, 6, 5
    net = PixelCNN(c, 3, width=4, layers=layers, kernel=kernel, params=1)
    features = torch.randn(1, 3, h, w)
    reach = layers * (kernel // 2)
    for i, j in itertools.product(range(h), range(w)):
        x = torch.rand(1, c, h, w, requires_grad=True)
        net(x, features)[0, :, i, j].sum().backward()
        seen = x.grad[0].abs().sum(0) > 0  # (H, W): the pixels output (i, j) depends on
        order = torch.arange(h * w).view(h, w)
        assert not seen[order >= i * w + j].any(), (i, j)
        if j > 0:
            assert seen[i, j - 1], (i, j)  # the pixel to the left is always in view
        if i >= reach:
            assert seen[i - reach, j], (i, j)  # the field reaches `reach` rows up...
        rows = torch.nonzero(seen)[:, 0]
        assert not len(rows) or rows.min() >= i - reach, (i, j)  # ...and no further


def test_masks_a_and_b():
    a = MaskedConv2d(1, 1, 3, "A").mask
    b = MaskedConv2d(1, 1, 3, "B").mask
    assert a.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert b.tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]
    with pytest.raises(ValueError, match="odd kernel"):
        MaskedConv2d(1, 1, 4, "A")


@pytest.mark.parametrize("channels", [1, 2])
def test_bernoulli_likelihood_sums_to_one_over_all_binary_images(channels):
    torch.manual_seed(0)
    model = build_vae(tiny((channels, 2, 2), family="mlp", hidden_dims=(8,))).eval()
    d = channels * 4
    images = torch.tensor(list(itertools.product([0.0, 1.0], repeat=d))).view(-1, channels, 2, 2)
    z = torch.randn(1, 3).expand(len(images), -1)
    with torch.no_grad():
        total = model.decode(z).log_prob(images).double().exp().sum()
    assert float(total) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("likelihood", ["logistic", "logistic-mixture-coupled"])
def test_8bit_likelihood_sums_to_one_over_all_images_of_two_pixels(likelihood):
    torch.manual_seed(0)
    model = build_vae(tiny((1, 1, 2), likelihood, family="mlp", hidden_dims=(8,))).eval()
    values = torch.arange(256.0) / 255
    images = torch.cartesian_prod(values, values).view(-1, 1, 1, 2)
    z = torch.randn(1, 3).expand(len(images), -1)
    with torch.no_grad():
        total = model.decode(z).log_prob(images).double().exp().sum()
    assert float(total) == pytest.approx(1.0, abs=1e-4)


def test_generation_matches_a_teacher_forced_pass():
    """The greedy decode runs over a few rows at a time; scoring its own fed-back image in one
    pass over the whole image must give the same conditional means."""
    torch.manual_seed(0)
    model = build_vae(tiny((1, 7, 9), autoregressive=2, ar_kernel=3)).eval()
    px = model.decode(torch.randn(3, 3))
    shown = px.greedy()
    fed = (shown > 0.5).float()
    with torch.no_grad():
        torch.testing.assert_close(px.conditionals(fed).mean, shown)


@pytest.mark.parametrize(
    ("likelihood", "shape"), [("bernoulli", (1, 4, 3)), ("logistic-mixture-coupled", (3, 3, 3))]
)
def test_samples_are_valid_images_of_the_right_shape(likelihood, shape):
    torch.manual_seed(0)
    model = build_vae(tiny(shape, likelihood)).eval()
    reports = []
    with reporting(lambda *r: reports.append(r)):
        px = model.sample(5, torch.Generator().manual_seed(1))
        x = px.sample(torch.Generator().manual_seed(2))
    again = px.sample(torch.Generator().manual_seed(2))
    assert x.shape == (5, *shape) and torch.equal(x, again)
    levels = 1 if likelihood == "bernoulli" else 255
    assert torch.equal(x * levels, torch.round(x * levels)) and 0 <= x.min() <= x.max() <= 1
    pixels = shape[1] * shape[2]
    assert reports[-1] == (PROGRESS_NAME, pixels, pixels) and len(reports) == pixels
    image = model.mean_image(model.sample_latents(2))
    assert image.shape == (2, *shape) and 0 <= image.min() <= image.max() <= 1


def test_a_short_training_run_lowers_the_loss():
    torch.manual_seed(0)
    model = build_vae(tiny((1, 6, 6)))
    x = (torch.rand(16, 1, 6, 6) > 0.5).float()
    x[:, :, :, :3] = 1.0  # a left half to learn
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for step in range(60):
        out = model.loss(x, torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        out.objective.mean().backward()
        optimizer.step()
        losses.append(float(out.loss.detach().mean()))
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5


def test_the_options_are_checked():
    for kw, message in [
        (dict(family="hvae"), "not hvae"),
        (dict(likelihood="gaussian"), "binary or 8-bit"),
        (dict(ar_kernel=4), "--ar-kernel must be odd"),
    ]:
        with pytest.raises(VaekitError, match=message):
            tiny(**kw).validate()


@pytest.fixture(scope="module")
def ar_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ar")
    data = write_npz(folder / "d.npz", n=80, size=6)
    vaekit.train(
        data, out=folder / "run", model="conv", channels=(4,), latent_dim=2, epochs=1,
        batch_size=20, autoregressive=1, ar_width=4, binarize=True, report=False,
        progress=False,
    )  # fmt: skip
    return folder / "run"


def test_a_saved_model_loads_and_gives_the_same_numbers(ar_run: Path):
    config = json.loads((ar_run / "config.json").read_text())
    assert config["schema_version"] == SCHEMA_VERSION
    assert (config["model"]["autoregressive"], config["model"]["ar_kernel"]) == (1, 3)
    model, again = vaekit.load(ar_run), vaekit.load(ar_run)
    x = (torch.rand(4, 1, 6, 6) > 0.5).float()
    torch.testing.assert_close(model.elbo(x).loss, again.elbo(x).loss)
    assert torch.equal(model.sample(3, seed=4), again.sample(3, seed=4))
    assert model.reconstruct(x).shape == (4, 1, 6, 6)


def test_a_schema_2_file_written_before_the_option_still_loads(ar_run: Path, tmp_path: Path):
    data = write_npz(tmp_path / "d.npz", n=40, size=6)
    run = vaekit.train(
        data, out=tmp_path / "old", model="mlp", hidden_dims=(8,), latent_dim=2, epochs=1,
        report=False, progress=False,
    ).path  # fmt: skip
    config = json.loads((run / "config.json").read_text())
    for key in ("autoregressive", "ar_kernel", "ar_width"):
        del config["model"][key]
    (run / "config.json").write_text(json.dumps({**config, "schema_version": 2}))
    assert read_config(run)["model"]["autoregressive"] == 0
    model = vaekit.load(run)
    assert not model.config.autoregressive and model.sample(2, seed=0).shape == (2, 1, 6, 6)


def test_export_refuses_in_one_line(ar_run: Path, tmp_path: Path):
    with pytest.raises(VaekitError, match="pixel by pixel") as err:
        vaekit.export(ar_run, tmp_path / "out")
    assert "\n" not in str(err.value)
