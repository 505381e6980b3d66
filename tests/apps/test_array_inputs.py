""".npy/.npz inputs to the apps are scaled by the model's own value range (digits: 0..16)."""

from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from tests.cli.test_cli import vaekit as cli
from vaekit.api import apps
from vaekit.errors import VaekitError

DIGITS_RUN = Path(__file__).parents[1] / "frozen" / "run-v1"  # a digits model: max value 16


@pytest.fixture(scope="module")
def model():
    m = vaekit.load(DIGITS_RUN)
    assert m.max_value == 16
    return m


def test_integer_arrays_are_scaled_by_the_models_range(model, tmp_path: Path):
    inputs = apps.Inputs(model)
    stored = inputs.test.images[:3]  # uint8, values 0..16
    np.save(tmp_path / "u8.npy", stored.numpy())
    np.save(tmp_path / "i64.npy", stored[:, 0].numpy().astype(np.int64))  # (N, H, W)
    by_index = inputs.images(["0", "1", "2"])
    for name in ("u8.npy", "i64.npy"):
        x = inputs.images([str(tmp_path / name)])
        torch.testing.assert_close(x, by_index)
        assert float(x.max()) == float(stored.max()) / 16 and float(x.max()) > 0.5
    np.savez(tmp_path / "d.npz", images=stored.numpy())
    torch.testing.assert_close(inputs.images([str(tmp_path / "d.npz")]), by_index)
    result = apps.denoise(model, inputs=[str(tmp_path / "u8.npy")])
    torch.testing.assert_close(result["noisy"], by_index)  # what the model was given


def test_an_array_of_one_image_is_that_image(model, tmp_path: Path):
    """The help of --from/--to/--index takes "an image/.npy file (of one image, the model's
    size)": (H, W), and (C, H, W) of the model's shape, were refused as no batch."""
    inputs = apps.Inputs(model)
    stored = inputs.test.images[:1]  # (1, 1, 8, 8)
    np.save(tmp_path / "hw.npy", stored[0, 0].numpy())
    np.save(tmp_path / "chw.npy", stored[0].numpy())
    for name in ("hw.npy", "chw.npy"):
        torch.testing.assert_close(inputs.one(str(tmp_path / name)), inputs.images(["0"]))
    path = apps.interpolate(model, str(tmp_path / "hw.npy"), "0", steps=3)
    torch.testing.assert_close(path[0], path[-1])  # from the image to itself


def test_float_arrays_in_the_unit_interval_are_kept(model, tmp_path: Path):
    x = np.linspace(0, 1, 2 * 64, dtype=np.float32).reshape(2, 1, 8, 8)
    np.save(tmp_path / "f.npy", x)
    torch.testing.assert_close(apps.Inputs(model).images([str(tmp_path / "f.npy")]),
                               torch.from_numpy(x))  # fmt: skip


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.full((2, 8, 8), 255, np.uint8), r"\[0, 16\] as integers"),  # 8-bit, not digits
        (np.full((2, 8, 8), -1, np.int64), r"\[0, 16\] as integers"),
        (np.full((2, 8, 8), 1.5, np.float32), r"in \[0, 1\] as floats"),
        (np.full((2, 8, 8), np.nan, np.float32), "must be finite"),
        (np.full((2, 8, 8), np.inf, np.float64), "must be finite"),
        (np.zeros((2, 5, 5), np.uint8), r"expected images shaped \(B, 1, 8, 8\)"),
    ],
)
def test_arrays_outside_the_range_are_refused_naming_the_file(model, tmp_path, array, message):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(VaekitError, match=message) as info:
        apps.Inputs(model).images([str(path)])
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_the_command_refuses_them_in_one_line(tmp_path: Path, capsys):
    np.save(tmp_path / "bad.npy", np.full((2, 8, 8), np.nan, np.float32))
    code = cli("uncertainty", DIGITS_RUN, str(tmp_path / "bad.npy"), "-o", tmp_path / "u")
    err = capsys.readouterr().err
    assert code == 1 and "bad.npy: pixel values must be finite" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "u").exists()


def test_embedded_inputs_are_named_in_the_csv(tmp_path: Path):
    """`embed RUN a.png many.npy 0 -o z.csv` wrote rows that said nothing of which input each
    was; they are named as anomaly names them."""
    images = (np.random.default_rng(0).random((2, 8, 8)) * 16).astype(np.uint8)
    np.save(tmp_path / "two.npy", images)
    out = tmp_path / "z.csv"
    assert cli("embed", DIGITS_RUN, str(tmp_path / "two.npy"), "3", "-o", out) == 0
    rows = out.read_text().splitlines()
    assert rows[0].startswith("input,mean_0,")
    assert [r.split(",")[0] for r in rows[1:]] == [f"{tmp_path / 'two.npy'}[0]",
                                                   f"{tmp_path / 'two.npy'}[1]", "3"]  # fmt: skip
