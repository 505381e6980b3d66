"""Every data reader on generated broken inputs (hypothesis): valid small files cut short,
overwritten, extended or replaced by random bytes, and headers that claim absurd sizes.

Each case opens the damaged source the way a user does (`open_dataset`) and must end in a
Dataset or in one VaekitError naming the file: never another exception, a hang or a crash.
`make test` runs a few dozen cases per reader, the same each time; `make fuzz-soak` hundreds.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import write_idx_folder
from tests.data.writers import (
    write_binarized_mnist,
    write_cifar_bin,
    write_cifar_py,
    write_olivetti,
    write_svhn,
)
from tests.fuzzing import CLAIMED, damaged, reads_or_refuses, with_ints
from vaekit.data.datasets import Dataset, open_dataset

pytestmark = [pytest.mark.fuzz, pytest.mark.filterwarnings("ignore")]  # skipped images warn


@contextmanager
def _scratch() -> Iterator[Path]:
    """A fresh folder per generated case (fixtures are shared by all cases of a test)."""
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


@functools.cache
def _valid(name: str) -> dict[str, bytes]:
    """File name -> bytes of a small valid dataset folder written by the tests' writers."""
    with _scratch() as tmp:
        folder = tmp / name
        WRITERS[name](folder)
        return {
            str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()
        }


def _write(folder: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return folder


def _open(source: Path, damaged_file: Path, **options: object) -> Dataset | None:
    """The dataset read from `source`, or None where vaekit refused it in one line naming the
    damaged file (reads_or_refuses fails the test on any other outcome)."""
    return reads_or_refuses(lambda: open_dataset(source, **options), damaged_file, source)


def _refused_or_usable(dataset: Dataset | None) -> bool:
    """Refused, or a dataset that can be trained on: images in both splits, of one shape."""
    if dataset is None:
        return True
    return (
        len(dataset.train) > 0
        and len(dataset.test) > 0
        and (dataset.train.shape == dataset.test.shape)
    )


def _images(folder: Path) -> None:
    """Two classes of tiny PNG and JPEG images (one grayscale)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 256, (6, 6, 3)).astype(np.uint8)
            im = Image.fromarray(pixels) if i else Image.fromarray(pixels[..., 0], "L")
            im.save(folder / label / f"{i}.{'jpg' if i == 2 else 'png'}")


def _celeba(folder: Path) -> None:
    """CelebA's layout: four small faces and the partition file (train, train, val, test)."""
    from PIL import Image

    (folder / "img_align_celeba").mkdir(parents=True)
    for i in range(4):
        Image.new("RGB", (12, 14), (i * 60, 100, 50)).save(
            folder / "img_align_celeba" / f"{i:06d}.jpg"
        )
    lines = [f"{i:06d}.jpg {split}" for i, split in enumerate([0, 0, 1, 2])]
    (folder / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")


WRITERS: dict[str, Callable[[Path], object]] = {
    "idx": lambda f: write_idx_folder(f, n_train=6, n_test=3, size=4, gz=False),
    "idx-gz": lambda f: write_idx_folder(f, n_train=6, n_test=3, size=4, gz=True),
    "amat": lambda f: write_binarized_mnist(f, (3, 1, 1)),
    "cifar-bin": lambda f: write_cifar_bin(f, n=2),
    "cifar-py": lambda f: write_cifar_py(f, n=2, n_test=1),
    "svhn": lambda f: write_svhn(f, n_train=3, n_test=1),
    "olivetti": lambda f: write_olivetti(f, n=4),
    "images": _images,
    "celeba": _celeba,
}


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("idx", "train-images-idx3-ubyte"),
        ("idx", "t10k-labels-idx1-ubyte"),
        ("idx-gz", "train-images-idx3-ubyte.gz"),
        ("amat", "binarized_mnist_train.amat"),
        ("cifar-bin", "data_batch_1.bin"),
        ("cifar-py", "data_batch_1"),
        ("svhn", "train_32x32.mat"),
        ("olivetti", "olivettifaces.mat"),
        ("images", "a/1.png"),
        ("images", "b/2.jpg"),
        ("celeba", "list_eval_partition.txt"),
        ("celeba", "img_align_celeba/000002.jpg"),
    ],
)
@given(data=st.data())
def test_a_damaged_file_is_read_or_refused(source: str, target: str, data: st.DataObject):
    files = dict(_valid(source))
    files[target] = data.draw(damaged(files[target]), label=target)
    with _scratch() as tmp:
        folder = _write(tmp / source, files)
        assert _refused_or_usable(_open(folder, folder / target))


@given(data=st.data())
def test_gzip_of_a_damaged_idx_file(data: st.DataObject):
    files = dict(_valid("idx-gz"))
    name = "train-images-idx3-ubyte.gz"
    files[name] = gzip.compress(data.draw(damaged(gzip.decompress(files[name]))))
    with _scratch() as tmp:
        folder = _write(tmp / "fuzzed-idx", files)
        assert _refused_or_usable(_open(folder, folder / name))


@given(dims=st.lists(CLAIMED, min_size=1, max_size=4), tail=st.binary(max_size=64))
def test_idx_header_claiming_any_size(dims: list[int], tail: bytes):
    files = dict(_valid("idx"))
    name = "train-images-idx3-ubyte"
    files[name] = bytes([0, 0, 0x08, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + tail
    with _scratch() as tmp:
        folder = _write(tmp / "fuzzed-idx", files)
        assert _refused_or_usable(_open(folder, folder / name))


@pytest.mark.parametrize(("source", "dims"), [("svhn", (32, 32, 3, 3)), ("olivetti", (4096, 4))])
@given(claimed=st.lists(CLAIMED, min_size=2, max_size=2))
def test_mat_dimensions_claiming_any_size(source: str, dims: tuple[int, ...], claimed: list):
    """The stored dimensions of X (SVHN) or faces (Olivetti) changed to any numbers."""
    files = dict(_valid(source))
    name = next(iter(n for n in files if n.startswith(("train", "olivetti"))))
    new = (*dims[: len(dims) - 2], *(min(c, 2**31 - 1) for c in claimed))
    files[name] = with_ints(files[name], dims, new, f"<{len(dims)}i")
    with _scratch() as tmp:
        folder = _write(tmp / source, files)
        assert _refused_or_usable(_open(folder, folder / name))


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def _images_array() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (6, 4, 4)).astype(np.uint8)


@given(data=st.data())
def test_npy_damaged(data: st.DataObject):
    content = data.draw(damaged(_npy(_images_array())))
    with _scratch() as tmp:
        path = tmp / "images.npy"
        path.write_bytes(content)
        assert _refused_or_usable(_open(path, path))


@given(
    shape=st.lists(CLAIMED, max_size=4),
    descr=st.sampled_from(["|u1", "<f4", "<i8", "|b1", "<c8", "|V4", "<U2", "|O"]),
    fortran=st.booleans(),
    tail=st.binary(max_size=256),
)
def test_npy_header_claiming_any_shape(shape: list[int], descr: str, fortran: bool, tail: bytes):
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {tuple(shape)}, }}"
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    content = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + tail
    with _scratch() as tmp:
        path = tmp / "images.npy"
        path.write_bytes(content)
        assert _refused_or_usable(_open(path, path))


def _npz(compressed: bool) -> bytes:
    out = io.BytesIO()
    save = np.savez_compressed if compressed else np.savez
    images = _images_array()
    save(out, images=images, labels=np.arange(6) % 2, x_test=images[:2], y_test=np.arange(2))
    return out.getvalue()


@pytest.mark.parametrize("compressed", [False, True])
@given(data=st.data())
def test_npz_damaged(compressed: bool, data: st.DataObject):
    content = data.draw(damaged(_npz(compressed)))
    with _scratch() as tmp:
        path = tmp / "data.npz"
        path.write_bytes(content)
        assert _refused_or_usable(_open(path, path))


@given(
    member=st.binary(max_size=512),
    claimed=st.one_of(st.none(), CLAIMED),
    compressed=st.booleans(),
)
def test_npz_member_of_any_content_and_claimed_size(member, claimed, compressed):
    """An .npz whose image member holds any bytes, its zip entry claiming any size."""
    out = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(out, "w", method) as z:
        z.writestr("images.npy", _npy(_images_array())[:10] + member)
    content = out.getvalue()
    if claimed is not None:  # the uncompressed size in both the local and the central header
        size = len(_npy(_images_array())[:10] + member)
        content = content.replace(struct.pack("<I", size), struct.pack("<I", claimed))
    with _scratch() as tmp:
        path = tmp / "data.npz"
        path.write_bytes(content)
        assert _refused_or_usable(_open(path, path))


def _prepared(tmp: Path) -> Path:
    """A prepared dataset (decoded from the tiny image folder), copied out of the cache."""
    source = _write(tmp / "fuzzed-images", _valid("images"))
    dataset = open_dataset(source)
    # Not "prepared": a refusal must name the folder, not merely use the word.
    copy = tmp / "fuzzed-prepared"
    shutil.copytree(dataset.info["prepared"], copy)
    return copy


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@given(data=st.data())
def test_prepared_dataset_with_a_damaged_header(data: st.DataObject):
    with _scratch() as tmp:
        folder = _prepared(tmp)
        header = json.loads((folder / "header.json").read_text())
        key = data.draw(st.sampled_from(sorted(header)), label="key")
        if data.draw(st.booleans(), label="remove"):
            del header[key]
        else:
            header[key] = data.draw(JSON, label="value")
        (folder / "header.json").write_text(json.dumps(header))
        assert _refused_or_usable(_open(folder, folder / "header.json"))


@pytest.mark.parametrize("target", ["images.u8", "labels.npy"])
@given(data=st.data())
def test_prepared_dataset_with_a_damaged_array(target: str, data: st.DataObject):
    with _scratch() as tmp:
        folder = _prepared(tmp)
        path = folder / target
        path.write_bytes(data.draw(damaged(path.read_bytes())))
        assert _refused_or_usable(_open(folder, path))
