"""Requests whose picture would be absurd: a PNG grid holds at most MAX_GRID_IMAGES, the
rest goes to the .npy (streamed in batches for `sample`), and the command says so."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vaekit
from tests.cli.test_cli import vaekit as cli
from vaekit.api import apps
from vaekit.apps.generate import sample
from vaekit.errors import VaekitError
from vaekit.report.limits import MAX_GRID_IMAGES

FROZEN = Path(__file__).parents[1] / "frozen" / "run-v1"  # a digits model: (1, 8, 8), 4 latents
CELL = 58  # an 8x8 image enlarged 7x, plus the 2-pixel gap


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return Path(shutil.copytree(FROZEN, tmp_path_factory.mktemp("large") / "run"))


def test_sample_beyond_one_grid_streams_into_the_npy(run, tmp_path, capsys):
    png, npy = tmp_path / "s.png", tmp_path / "s.npy"
    assert cli("sample", run, "-n", "2500", "--seed", "4", "-o", png, "--npy", npy) == 0
    out = capsys.readouterr().out
    assert "wrote 1024 samples (the first 1024 of 2500)" in out
    images = np.load(npy)
    assert images.shape == (2500, 1, 8, 8) and images.dtype == np.float32
    expected = vaekit.load(run).sample(2500, seed=4)
    np.testing.assert_allclose(images, expected.numpy(), atol=1e-6)
    assert not np.allclose(images[:1024], images[1024:2048])  # each batch its own draws
    assert Image.open(png).size == (32 * CELL + 2, 32 * CELL + 2)  # 1024 = 32 x 32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npy", "s.png"]


def test_up_to_one_batch_sampling_is_one_draw(run):
    model = vaekit.load(run)
    generator = torch.Generator().manual_seed(7)
    torch.testing.assert_close(model.sample(5, seed=7), sample(model.vae, 5, generator))


def test_denoise_shows_the_first_inputs_and_keeps_all(run, tmp_path, capsys):
    np.save(tmp_path / "many.npy", np.random.default_rng(0).integers(0, 17, (400, 8, 8)))
    out = tmp_path / "dn"
    assert cli("denoise", run, tmp_path / "many.npy", "--add-noise", "mask:0.2", "-o", out) == 0
    assert "(denoised.png shows the first 336 of 400)" in capsys.readouterr().out
    assert np.load(out / "denoised.npy").shape == (400, 1, 8, 8)
    # 336 inputs in rows of 8, each row of clean, noisy and denoised images: 126 rows.
    assert Image.open(out / "denoised.png").size == (8 * CELL + 2, 126 * CELL + 2)
    assert 3 * 336 <= MAX_GRID_IMAGES < 3 * 344


def test_fewer_inputs_than_a_row_are_one_column_each_above_their_outputs(run, tmp_path):
    """3 inputs: 3 columns and one row each of clean, noisy and denoised images, each output
    under its input; the grid was padded to 8 columns and then wrapped at 3, so that a noisy
    image stood under another clean one and the rows staggered."""
    out = tmp_path / "dn"
    assert cli("denoise", run, "-n", "3", "--add-noise", "mask:0.2", "-o", out) == 0
    picture = np.asarray(Image.open(out / "denoised.png"))
    assert picture.shape == (3 * CELL + 2, 3 * CELL + 2)
    denoised = (np.clip(np.load(out / "denoised.npy")[:, 0], 0, 1) * 255).round()
    zoom = (CELL - 2) // denoised.shape[-1]
    for c in range(3):  # the last row's cells are the denoised images, each in its column
        top, left = 2 + 2 * CELL, 2 + c * CELL
        shown = picture[top : top + CELL - 2 : zoom, left : left + CELL - 2 : zoom]
        assert np.array_equal(shown, denoised[c].astype(np.uint8))
    assert cli("uncertainty", run, "-n", "2", "--samples", "2", "-o", tmp_path / "u") == 0
    assert Image.open(tmp_path / "u" / "uncertainty.png").size == (2 * CELL + 2, 3 * CELL + 2)


def test_a_long_interpolation_strip_wraps(run, tmp_path):
    png = tmp_path / "i.png"
    assert cli("interpolate", run, "--from", "0", "--to", "1", "--steps", "40", "-o", png) == 0
    assert Image.open(png).size == (32 * CELL + 2, 2 * CELL + 2)


def test_traverse_keeps_the_most_informative_rows(run):
    model = vaekit.load(run)
    images, dims, kl = apps.traverse(model, steps=3, most=2)
    every, all_dims, all_kl = apps.traverse(model, steps=3)
    assert dims == all_dims[:2] and kl == all_kl[:2] and images.shape == (6, 1, 8, 8)
    torch.testing.assert_close(images, every[:6])


def test_reconstruct_takes_image_files_of_the_models_size(run, tmp_path, capsys):
    x = np.random.default_rng(1).integers(0, 256, (8, 8)).astype(np.uint8)
    Image.fromarray(x).save(tmp_path / "x.png")
    npy = tmp_path / "r.npy"
    assert cli("reconstruct", run, tmp_path / "x.png", "3", "-o", tmp_path / "r.png",
               "--npy", npy) == 0  # fmt: skip
    model = vaekit.load(run)
    inputs = torch.cat([torch.from_numpy(x / 255).float()[None, None],
                        apps.Inputs(model).images(["3"])])  # fmt: skip
    np.testing.assert_allclose(np.load(npy), model.reconstruct(inputs).numpy(), atol=1e-6)
    assert "wrote 2 images and their reconstructions" in capsys.readouterr().out


def test_one_step_of_a_path_is_refused(run, tmp_path, capsys):
    """--steps 1 gave the first end alone (interpolate: A exactly, never towards B; traverse:
    each row's -RANGE image), not what the help says they walk."""
    for args in (["interpolate", run, "--from", "0", "--to", "1"], ["traverse", run]):
        assert cli(*args, "--steps", "1", "-o", tmp_path / "p.png") != 0
        assert "expected an integer from 2 to" in capsys.readouterr().err
    model = vaekit.load(run)
    with pytest.raises(VaekitError, match="steps must be a whole number of at least 2, got 1"):
        apps.interpolate(model, "0", "1", steps=1)
    with pytest.raises(VaekitError, match="steps must be a whole number of at least 2"):
        apps.traverse(model, steps=1)
    assert len(apps.interpolate(model, "0", "1", steps=2)) == 2


def test_traverse_ranks_and_names_each_dimension_by_its_own_mean_kl(run):
    """The KL traverse reports is each row's dimension's mean over the images (a flipped
    vector, a sum over the images, or a mean over the batches each passed its test)."""
    from vaekit.api.inputs import Inputs
    from vaekit.apps.latent import kl_per_dimension, kl_per_dimension_of

    model = vaekit.load(run)
    images, dims, kl = apps.traverse(model, steps=3, most=3, kl_examples=50)
    x = Inputs(model).first(50)
    with torch.no_grad():
        q = model.vae.encode(x)
        by_hand = (0.5 * (q.var + q.mean**2 - 1 - q.logvar)).mean(0)
    assert kl == pytest.approx([float(by_hand[d]) for d in dims], rel=1e-5)
    assert len(dims) == 3 and list(kl) == sorted(kl, reverse=True)
    torch.testing.assert_close(kl_per_dimension(model.vae, x), by_hand)
    test = Inputs(model).test.subset(torch.arange(50))
    torch.testing.assert_close(kl_per_dimension_of(model.vae, test), by_hand.cpu())
    # without an index, each row varies one dimension around the prior's mean (zeros)
    span = 3.0
    z = torch.zeros(3, model.latent_dim)
    z[:, dims[0]] = torch.linspace(-span, span, 3)
    with torch.no_grad():
        torch.testing.assert_close(images[:3], model.vae.mean_image(z))
    assert torch.equal(images, apps.traverse(model, steps=3, most=3, kl_examples=50,
                                             span=3.0)[0])  # the default span is 3  # fmt: skip
    with pytest.raises(VaekitError, match=f"latent dimension {model.latent_dim} does not exist"):
        apps.traverse(model, dims=[model.latent_dim])


def test_denoise_and_uncertainty_draw_with_the_seed_given(run):
    model = vaekit.load(run)
    a, b = (apps.denoise(model, n=3, add_noise="gaussian:0.3", seed=s)["noisy"] for s in (0, 1))
    assert not torch.equal(a, b)
    assert torch.equal(a, apps.denoise(model, n=3, add_noise="gaussian:0.3", seed=0)["noisy"])
    u0, u1 = (apps.uncertainty(model, n=2, samples=4, seed=s)["spread"] for s in (0, 1))
    assert not torch.equal(u0, u1)
    with pytest.raises(VaekitError, match="--samples must be from 2"):
        apps.uncertainty(model, n=2, samples=1)


def test_a_spread_of_zero_is_drawn_black_not_nan():
    from vaekit.apps.restore import spread_to_image

    assert torch.equal(spread_to_image(torch.zeros(2, 1, 4, 4)), torch.zeros(2, 1, 4, 4))
    shown = spread_to_image(torch.tensor([0.0, 0.5, 2.0]))
    assert torch.equal(shown, torch.tensor([0.0, 0.25, 1.0]))
