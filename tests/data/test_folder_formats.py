"""A folder given by path is read in every format the registry reads, detected by its files."""

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.cli.test_cli import vaekit
from tests.conftest import write_idx_folder
from tests.data.writers import (
    write_binarized_mnist,
    write_cifar_bin,
    write_cifar_py,
    write_olivetti,
    write_svhn,
)
from vaekit.api.data import prepare_dataset
from vaekit.data import checksums
from vaekit.data.datasets import open_dataset
from vaekit.data.registry import registered_specs
from vaekit.errors import VaekitError


def _celeba(folder: Path) -> None:
    (folder / "img_align_celeba").mkdir(parents=True)
    for i in range(6):
        Image.new("RGB", (178, 218), (i * 40, 100, 50)).save(
            folder / "img_align_celeba" / f"{i:06d}.jpg"
        )
    lines = [f"{i:06d}.jpg {split}" for i, split in enumerate([0, 0, 0, 1, 2, 2])]
    (folder / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")


def _prepared(folder: Path) -> None:
    info = prepare_dataset("digits")
    shutil.move(info["prepared"], folder)


# (writes the folder, its image shape, (train, val, test) sizes, labelled, max value)
FORMATS: dict[str, tuple[Callable[[Path], object], tuple, tuple, bool, float]] = {
    "idx-gz": (write_idx_folder, (1, 12, 12), (60, None, 20), True, 255),
    "idx-plain": (lambda f: write_idx_folder(f, gz=False), (1, 12, 12), (60, None, 20), True, 255),
    "cifar-bin": (write_cifar_bin, (3, 32, 32), (20, None, 4), True, 255),
    "cifar-py": (write_cifar_py, (3, 32, 32), (15, None, 2), True, 255),
    "svhn": (lambda f: write_svhn(f, 6, 3), (3, 32, 32), (6, None, 3), True, 255),
    "svhn-extra": (lambda f: write_svhn(f, 6, 3, 4), (3, 32, 32), (10, None, 3), True, 255),
    "binarized-mnist": (write_binarized_mnist, (1, 28, 28), (12, 5, 4), False, 1),
    "olivetti": (write_olivetti, (1, 64, 64), (18, None, 2), True, 255),
    "celeba": (_celeba, (3, 16, 16), (3, 1, 2), False, 255),
    "prepared": (_prepared, (1, 8, 8), (1617, None, 180), True, 16),
}


@pytest.mark.parametrize("kind", FORMATS)
def test_a_folder_in_each_registry_format_is_recognized(tmp_path: Path, kind: str):
    write, shape, sizes, labelled, max_value = FORMATS[kind]
    folder = tmp_path / "some-folder"  # a name that is no dataset's
    write(folder)
    ds = open_dataset(folder, image_size=16, seed=0)
    assert ds.shape == shape
    assert (len(ds.train), len(ds.val) if ds.val else None, len(ds.test)) == sizes
    assert (ds.train.labels is not None) == labelled
    assert ds.info["source"] == "path" and ds.info["name"] == str(folder.resolve())
    assert ds.info["max_value"] == max_value
    assert int(ds.train.images.max()) <= max_value


def test_svhn_folder_content_and_labels(tmp_path: Path):
    x = write_svhn(tmp_path / "mats", n_train=10, n_test=2)
    ds = open_dataset(tmp_path / "mats")
    assert ds.train.labels.tolist() == [*range(1, 10), 0]  # SVHN's 10 is the digit 0
    np.testing.assert_array_equal(ds.train.images[3].numpy(), x[..., 3].transpose(2, 0, 1))
    (tmp_path / "mats" / "test_32x32.mat").write_bytes(b"MATLAB 5.0 junk")
    with pytest.raises(VaekitError, match=r"test_32x32\.mat: not a readable \.mat file"):
        open_dataset(tmp_path / "mats")


def test_a_folder_is_read_as_it_is_without_the_registry_checksums(tmp_path: Path, monkeypatch):
    write_svhn(tmp_path / "mats", n_train=6, n_test=3)  # not the published files
    calls = []
    monkeypatch.setattr(checksums, "file_md5", lambda path: calls.append(path) or "")
    assert len(open_dataset(tmp_path / "mats").train) == 6 and calls == []
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path))
    write_svhn(tmp_path / "svhn", n_train=6, n_test=3)
    with pytest.raises(VaekitError, match="checksum mismatch"):
        open_dataset("svhn")  # by name, it must be SVHN's own files
    assert calls  # the patched function is the one that hashes: the check above means it


def test_a_folder_of_nothing_known_says_what_was_looked_for(tmp_path: Path, capsys):
    folder = tmp_path / "stuff"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    (folder / "train_32x32.mat").write_bytes(b"half of svhn")
    with pytest.raises(VaekitError) as info:
        open_dataset(folder)
    message = str(info.value)
    assert message.startswith(f"{folder}: no dataset found in this folder; looked for ")
    assert "\n" not in message
    for spec in registered_specs():
        if spec.files or spec.find:
            # the name itself, not inside another ("mnist" in "fashion-mnist)")
            assert re.search(rf"(?<![\w-]){re.escape(spec.name)}[),]", message), spec.name
    for wanted in ("header.json", "t10k-images-idx3-ubyte", "test_32x32.mat", "data_batch_1",
                   "binarized_mnist_valid.amat", "list_eval_partition.txt", ".png"):  # fmt: skip
        assert wanted in message
    assert vaekit("train", "--data", folder, "--out", tmp_path / "run") == 1
    err = capsys.readouterr().err
    assert "no dataset found in this folder" in err and len(err.strip().splitlines()) == 1


def test_train_on_an_svhn_folder(tmp_path: Path):
    write_svhn(tmp_path / "mats", n_train=12, n_test=4)
    out = tmp_path / "run"
    assert vaekit("train", "--data", tmp_path / "mats", "--model", "mlp", "--hidden-dims", "8",
                  "--latent-dim", "2", "--epochs", "1", "--batch-size", "4", "--out", out,
                  "--quiet") == 0  # fmt: skip
    data = json.loads((out / "config.json").read_text())["data"]
    assert data["name"] == str((tmp_path / "mats").resolve()) and data["shape"] == [3, 32, 32]
    assert data["num_test"] == 4
    assert vaekit("eval", out, "--iw-samples", "2", "--no-probe") == 0  # reopens the folder
    assert json.loads((out / "eval.json").read_text())["split_size"] == 4


def test_image_folders_are_still_the_fallback(tmp_path: Path):
    for i in range(4):
        Image.new("L", (6, 6), i * 60).save(tmp_path / f"{i}.png")
    (tmp_path / "train_32x32.mat").write_bytes(b"not enough for svhn")  # only one of its files
    ds = open_dataset(tmp_path, seed=0)
    assert ds.shape == (1, 6, 6) and len(ds.train) + len(ds.test) == 4
    assert torch.cat([ds.train.images, ds.test.images]).unique().tolist() == [0, 60, 120, 180]
