"""The one place inputs meet a model (vaekit.api.inputs): image files at the model's own size
and channels, arrays through Model.prepare, datasets through Model.check_shape."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vaekit
from vaekit.api.inputs import Inputs, model_dataset
from vaekit.errors import VaekitError


@pytest.fixture(scope="module")
def color_run(tmp_path_factory):
    """A tiny model of 3 x 8 x 6 color images (not square: width 6, height 8)."""
    folder = tmp_path_factory.mktemp("color")
    rng = np.random.default_rng(0)
    np.savez(folder / "d.npz", images=rng.integers(0, 256, (60, 3, 8, 6), dtype=np.uint8))
    return vaekit.train(str(folder / "d.npz"), out=folder / "run", model="mlp", hidden_dims=(8,),
                        latent_dim=2, epochs=1, progress=False)  # fmt: skip


def test_a_color_model_takes_gray_images_as_color(color_run, tmp_path: Path):
    gray = np.random.default_rng(1).integers(0, 256, (8, 6), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "g.png")
    x = Inputs(color_run.model).images([str(tmp_path / "g.png")])
    expected = torch.from_numpy(gray / 255).float().expand(3, 8, 6)
    assert x.shape == (1, 3, 8, 6)
    torch.testing.assert_close(x[0], expected)


def test_the_size_is_named_width_by_height(color_run, tmp_path: Path):
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(tmp_path / "turned.png")  # 8 wide
    with pytest.raises(VaekitError) as info:
        Inputs(color_run.model).images([str(tmp_path / "turned.png")])
    assert str(info.value) == (
        f"{tmp_path / 'turned.png'}: a 8x6 image; this model takes 6x8 color images: "
        "resize it to 6x8"
    )


def test_a_jpeg_of_the_right_size_is_read(color_run, tmp_path: Path):
    Image.fromarray(np.full((8, 6, 3), 200, np.uint8)).save(tmp_path / "x.jpg", quality=100)
    x = Inputs(color_run.model).images([str(tmp_path / "x.jpg")])
    assert x.shape == (1, 3, 8, 6) and abs(float(x.mean()) - 200 / 255) < 0.01


def test_datasets_of_another_shape_are_refused_by_name(color_run):
    with pytest.raises(VaekitError, match=r"^digits: images of shape \(1, 8, 8\) \(C, H, W\); "
                       r"this model takes \(3, 8, 6\)$"):  # fmt: skip
        model_dataset(color_run.model, "digits")
    with pytest.raises(VaekitError, match="digits: images of shape"):
        Inputs(color_run.model, "digits").first(2)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.array([["a"] * 6] * 8), "expected images of numbers, got an array of <U1"),
        (np.zeros((1, 3, 8, 6), np.complex64), "expected images of numbers"),
        (torch.zeros(1, 3, 8, 6, dtype=torch.complex64), "expected images of real numbers"),
        (np.zeros((1, 1, 8, 6)), r"expected images shaped \(B, 3, 8, 6\), got \(1, 1, 8, 6\)"),
    ],
)
def test_prepare_refuses_what_is_not_images(color_run, array, message):
    with pytest.raises(VaekitError, match=message):
        color_run.model.prepare(array)


def test_labels_that_do_not_fit_a_long_are_refused(tmp_path: Path):
    from tests.conftest import write_npz

    run = vaekit.train(str(write_npz(tmp_path / "d.npz", n=60, size=6)), out=tmp_path / "r",
                       model="mlp", hidden_dims=(8,), latent_dim=2, epochs=1, conditional=True,
                       progress=False)  # fmt: skip
    for bad in (10**30, 2.5, [1, 99]):
        with pytest.raises(VaekitError, match=r"class labels must be"):
            run.model.labels(bad, 2)
    with pytest.raises(VaekitError, match=r"no class named 'x' \(this run's classes have no"):
        run.model.labels("x", 2)  # a name, where the data names none


def test_python_callers_name_test_images_by_int(color_run):
    """apps.interpolate(model, 0, 1) and embed(model, inputs=[0]) raised "'int' object has no
    attribute 'isdigit'"."""
    from vaekit.api import apps

    model = color_run.model
    torch.testing.assert_close(apps.interpolate(model, 0, 1), apps.interpolate(model, "0", "1"))
    torch.testing.assert_close(apps.embed(model, inputs=[0, 1])["mean"],
                               apps.embed(model, inputs=["0", "1"])["mean"])  # fmt: skip
    for bad, message in ((-1, "a test-split index is 0 or more"),
                         (np.zeros((8, 8)), "got ndarray"), (True, "got bool")):  # fmt: skip
        with pytest.raises(VaekitError, match=message):
            Inputs(model).images([bad])
