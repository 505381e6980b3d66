"""What pixels are (binary, 8-bit, discrete, continuous) comes from the data source's
declaration, or from the user's `pixels=`, never from the values seen."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vaekit
from tests.cli.test_cli import vaekit as cli
from tests.conftest import write_idx_folder, write_npz
from tests.data.writers import write_binarized_mnist
from vaekit.api.data import prepare_dataset
from vaekit.api.run import reopen_dataset
from vaekit.data.batches import ImageSet, binarize_once, is_binary
from vaekit.data.datasets import open_dataset
from vaekit.errors import VaekitError
from vaekit.evaluation.evaluate import EvalConfig, data_support, evaluate_vae
from vaekit.models.likelihoods import BernoulliLikelihood
from vaekit.models.networks import MLPDecoder, MLPEncoder
from vaekit.models.priors import StandardNormal
from vaekit.models.vae import VAE

FROZEN = Path(__file__).parents[1] / "frozen"


def _binary_folder(root: Path) -> str:
    return str(write_binarized_mnist(root / "bm"))


def _png_folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(4):
        Image.new("L", (5, 5), i * 50).save(root / f"{i}.png")
    return root


def _extremes(n: int = 40, seed: int = 0) -> np.ndarray:
    """uint8 images whose values happen to be only 0 and 255."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 2, (n, 6, 6)) * 255).astype(np.uint8)


SOURCES = {
    "digits": (lambda root: "digits", "discrete", 16),
    "binarized-mnist folder": (_binary_folder, "binary", 1),
    "idx folder": (lambda root: write_idx_folder(root / "idx"), "8-bit", 255),
    "npz of uint8": (lambda root: write_npz(root / "d.npz", n=20, size=4), "8-bit", 255),
    "uint8 array": (lambda root: _extremes(), "8-bit", 255),  # 0/255 values: still 8-bit
    "float array": (lambda root: np.ones((20, 3, 4, 4), np.float32), "continuous", 1),
    "image folder": (_png_folder, "8-bit", 255),
    "prepared digits": (lambda root: prepare_dataset("digits")["prepared"], "discrete", 16),
}


@pytest.mark.parametrize("name", SOURCES)
def test_every_source_declares_its_pixels(tmp_path: Path, name: str):
    make, kind, max_value = SOURCES[name]
    ds = open_dataset(make(tmp_path))
    assert ds.info["pixels"] == kind and ds.info["max_value"] == max_value
    for split in (ds.train, ds.val, ds.test):
        if split is not None:
            assert split.pixels == kind and data_support(split) == kind
    assert ds.train.subset(torch.arange(2)).pixels == kind and ds.train.to("cpu").pixels == kind


def test_the_registered_binary_dataset_is_binary_by_declaration(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path))
    write_binarized_mnist(tmp_path / "binarized-mnist", sizes=(6, 2, 2))
    ds = open_dataset("binarized-mnist")
    assert ds.info["pixels"] == "binary" and is_binary(ds.test) and ds.val.pixels == "binary"


def test_the_user_can_say_what_the_pixels_are(tmp_path: Path):
    ds = open_dataset(_extremes(), pixels="binary")
    assert ds.info["pixels"] == "binary" and is_binary(ds.train) and is_binary(ds.test)
    assert ds.info["max_value"] == 255 and ds.train.scaled(slice(0, 4)).unique().tolist() == [0, 1]
    digits = open_dataset("digits", pixels="continuous")
    assert digits.info["pixels"] == "continuous" and digits.test.pixels == "continuous"
    assert open_dataset("digits", pixels=None).info["pixels"] == "discrete"
    mapped = open_dataset(prepare_dataset("digits")["prepared"], pixels="continuous")
    assert mapped.train.mapped and mapped.train.pixels == "continuous"


@pytest.mark.parametrize(
    ("source", "pixels", "message"),
    [
        ("gray", "binary", r"pixels 'binary' do not fit .* 0 or 255, and these have other"),
        ("float", "8-bit", r"pixels '8-bit' do not fit .*float32.*integers 0\.\.255"),
        ("digits", "8-bit", r"pixels '8-bit' do not fit .*values 0\.\.16, declared discrete"),
        ("float", "discrete", r"pixels 'discrete' do not fit .*: discrete pixels are integers"),
        ("digits", "bits", r"unknown pixels 'bits': choose from binary, 8-bit, discrete, contin"),
    ],
)
def test_a_kind_the_data_cannot_hold_is_a_one_line_error(source, pixels, message):
    data = {
        "gray": np.arange(40 * 36, dtype=np.int64).reshape(40, 6, 6).astype(np.uint8),
        "float": np.full((10, 4, 4), 0.5, np.float32),
        "digits": "digits",
    }[source]
    with pytest.raises(VaekitError, match=message) as info:
        open_dataset(data, pixels=pixels)
    assert "\n" not in str(info.value)


def test_prepared_datasets_record_their_pixels(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path))
    write_binarized_mnist(tmp_path / "binarized-mnist", sizes=(6, 2, 2))
    folder = Path(prepare_dataset("binarized-mnist")["prepared"])
    header = json.loads((folder / "header.json").read_text())
    assert header["pixels"] == "binary" and header["max_value"] == 1
    assert open_dataset(folder).info["pixels"] == "binary"
    # A folder prepared by an older vaekit has no "pixels": its value range declares it.
    del header["pixels"]
    (folder / "header.json").write_text(json.dumps(header))
    assert open_dataset(folder).info["pixels"] == "binary"
    images = Path(prepare_dataset(str(_png_folder(tmp_path / "pngs")))["prepared"])
    assert json.loads((images / "header.json").read_text())["pixels"] == "8-bit"


def _bernoulli_vae() -> VAE:
    torch.manual_seed(0)
    enc, dec = MLPEncoder((1, 6, 6), 3, (16,)), MLPDecoder((1, 6, 6), 3, (16,), 1)
    return VAE(enc, dec, BernoulliLikelihood(), StandardNormal(3))


def test_evaluation_reads_the_declaration_not_the_values():
    model, config = _bernoulli_vae(), EvalConfig(iw_samples=4)
    declared = open_dataset(_extremes()).test  # 8-bit data that happens to hold 0 and 255
    report, _ = evaluate_vae(model, declared, config)
    assert report["data_support"] == "8-bit" and report["kind"] == "objective"
    binary = open_dataset(_extremes(), pixels="binary").test
    report, _ = evaluate_vae(model, binary, config)
    assert report["data_support"] == "binary" and report["kind"] == "log-likelihood"
    # Sets built without a source keep what their type and range declare.
    bits = ImageSet(torch.ones(4, 1, 6, 6, dtype=torch.uint8), None, 1.0)
    assert data_support(bits) == "binary"
    assert data_support(ImageSet(torch.rand(4, 1, 6, 6), None, 1.0)) == "continuous"
    assert binarize_once(open_dataset("digits").test, seed=0).pixels == "binary"


def test_a_run_reopens_its_data_with_the_recorded_pixels(tmp_path: Path):
    np.savez(tmp_path / "x.npz", images=_extremes())
    info = open_dataset(tmp_path / "x.npz", pixels="binary").info
    run_config = {"data": info, "training": {"seed": 0}}
    assert reopen_dataset(run_config).test.pixels == "binary"
    assert reopen_dataset(run_config, tmp_path / "x.npz", verify=True).info["pixels"] == "binary"
    # Other data given to evaluate on has its own declaration.
    assert reopen_dataset(run_config, tmp_path / "x.npz").info["pixels"] == "8-bit"


def test_a_run_written_before_pixels_were_recorded_reopens_the_same_way():
    run = FROZEN / "run-v1"
    config = json.loads((run / "config.json").read_text())
    assert "pixels" not in config["data"]
    model = vaekit.load(run)
    dataset = reopen_dataset(model.run_config)
    assert (
        dataset.info["pixels"] == "discrete" and dataset.info["sha256"] == config["data"]["sha256"]
    )
    expected = json.loads((FROZEN / "run-v1-expected.json").read_text())
    x = dataset.test.scaled(slice(0, 4))
    torch.testing.assert_close(model.encode(x).mean, torch.tensor(expected["encode_mean_first4"]))
    report = vaekit.evaluate(model, iw_samples=10, max_examples=50, seed=0, probe=False)
    assert report["data_support"] == "discrete" and report["kind"] == "objective"
    for bound in ("elbo", "iwae"):
        for key, value in expected["eval_k10_seed0"][bound].items():
            assert report[bound][key] == pytest.approx(value, rel=1e-4), (bound, key)


def test_data_info_shows_the_pixel_kind(capsys):
    assert cli("data", "info", "digits") == 0
    assert "max value 16, discrete pixels" in capsys.readouterr().out
