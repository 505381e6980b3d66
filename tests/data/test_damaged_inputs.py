"""Damaged and hostile data files, one case each: the inputs fuzzing found to break a reader
(each once ended in another exception or an unbounded allocation), and the hostile layouts a
random mutation rarely builds (symlink loops, zip bombs, path escapes)."""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import idx_bytes, write_idx_folder
from tests.data.writers import py_batch, write_cifar_py, write_olivetti, write_svhn
from tests.fuzzing import memory_limit, reads_or_refuses, with_ints
from vaekit.data.datasets import open_dataset
from vaekit.data.formats import read_idx
from vaekit.data.npyfile import read_npy, read_npz
from vaekit.errors import VaekitError


def _npy_with_header(header: str, data: bytes = b"") -> bytes:
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data


def _npy_header(shape: tuple, descr: str = "|u1") -> str:
    return f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # numpy allocated 4 GB for the claimed shape before finding no data (MemoryError)
        (_npy_with_header(_npy_header((10**9,), "<f4")), "truncated"),
        # zero-sized images, 10**9 of them: carving a test split allocated 8 GB (RuntimeError)
        (_npy_with_header(_npy_header((10**9, 0, 0))), "holds no images"),
        # an empty array reached min() (ValueError), or torch's max() (RuntimeError)
        (_npy_with_header(_npy_header((1, 0, 0), "<f4")), "holds no images"),
        # numpy could not even build the empty array (ValueError: array is too big)
        (_npy_with_header(_npy_header((0, 32768, 10**9, 10**9))), "cannot hold data"),
        # a NUL byte in the header: numpy's Python-2 fallback raised tokenize.TokenError
        (_npy_with_header(_npy_header((6, 4, 4)).replace("(6", "\x006")), "not a readable"),
        # dict keys numpy cannot hash (TypeError inside numpy's literal_eval)
        (_npy_with_header("{[1]: 2}"), "not a readable"),
        # an object array: never unpickled
        (_npy_with_header(_npy_header((2,), "|O"), bytes(16)), "Python objects"),
    ],
)
def test_npy_found_by_fuzzing(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "images.npy"
    path.write_bytes(content)
    with pytest.raises(VaekitError, match=message) as info:
        open_dataset(path)
    assert str(path) in str(info.value)


def test_npy_reads_what_numpy_writes(tmp_path: Path):
    for array in (np.arange(24, dtype=">i4").reshape(2, 3, 4), np.zeros((2, 2), np.float16)):
        np.save(tmp_path / "a.npy", array)
        np.testing.assert_array_equal(read_npy(tmp_path / "a.npy"), array)
    fortran = np.asfortranarray(np.arange(6, dtype=np.uint8).reshape(2, 3))
    np.save(tmp_path / "f.npy", fortran)
    np.testing.assert_array_equal(read_npy(tmp_path / "f.npy"), fortran)
    assert read_npy(tmp_path / "f.npy").flags.writeable


def test_npz_claiming_more_than_deflate_can_expand_to(tmp_path: Path):
    """A zip entry whose recorded size is beyond deflate's 1032:1 is refused unread."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("images.npy", _npy_with_header(_npy_header((10, 4, 4)), bytes(160)))
    real = len(_npy_with_header(_npy_header((10, 4, 4)), bytes(160)))
    content = out.getvalue().replace(struct.pack("<I", real), struct.pack("<I", 2**31))
    (tmp_path / "bomb.npz").write_bytes(content)
    with pytest.raises(VaekitError, match="more than deflate can expand to"):
        read_npz(tmp_path / "bomb.npz", ["images"])


def test_gzip_claiming_more_than_it_could_hold_is_refused_unread(tmp_path: Path):
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 2**31, 2**16, 2**16)
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(header + bytes(10_000)))
    with pytest.raises(VaekitError, match=r"more than this .*-byte \.gz file can hold"):
        read_idx(path)


def test_gzip_bomb_behind_a_small_header_is_read_no_further(tmp_path: Path):
    """A header claiming 4 bytes over 200 MB of zeros: reading stops one byte past the claim."""
    path = tmp_path / "images.gz"
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(idx_bytes(np.zeros((1, 2, 2), np.uint8)))
        for _ in range(200):
            f.write(bytes(1 << 20))
    assert path.stat().st_size < 1 << 20
    with memory_limit(64 << 20), pytest.raises(VaekitError, match=r"too long IDX .* found 5"):
        read_idx(path)


@pytest.mark.parametrize(
    ("dims", "message"),
    [
        ((32768, 2**31, 2**31), "truncated IDX file"),  # np.prod overflowed (ValueError)
        ((0, 3, 2**31 - 1, 2**31 - 1), "holds nothing"),  # numpy: "array is too big"
    ],
)
def test_idx_found_by_fuzzing(tmp_path: Path, dims: tuple, message: str):
    folder = write_idx_folder(tmp_path / "idx", n_train=6, n_test=3, size=4, gz=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 0x08, len(dims)]) + struct.pack(f">{len(dims)}I", *dims))
    with pytest.raises(VaekitError, match=message):
        open_dataset(folder)


def _pickled(tmp_path: Path, content: bytes) -> Path:
    folder = write_cifar_py(tmp_path / "cifar", n=2, n_test=1)
    (folder / "data_batch_1").write_bytes(content)
    return folder


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # a persistent id: the error's text had two lines
        (b"\x80\x02P0\n.", "truncated or corrupt pickle .*persistent_load"),
        # a string claiming 2**64 - 1 bytes (OverflowError)
        (b"\x80\x04\x8d" + struct.pack("<Q", 2**64 - 1) + b"x", "truncated or corrupt"),
        # labels as a list of one shared huge bytes object: numpy would have built an
        # array of 10**5 copies of it
        (
            pickle.dumps({b"data": py_batch(2, 0)[b"data"], b"labels": [b"x" * 10**5] * 10**5}),
            "integer labels",
        ),
        # data as a list: np.asarray of ragged lists raised ValueError
        (pickle.dumps({b"data": [[1], [1, 2]], b"labels": [0, 1]}), "uint8 data"),
    ],
)
def test_pickled_batches_found_by_fuzzing(tmp_path: Path, content: bytes, message: str):
    folder = _pickled(tmp_path, content)
    with memory_limit(), pytest.raises(VaekitError, match=message) as info:
        open_dataset(folder)
    assert "\n" not in str(info.value)


def test_mat_variable_of_an_unknown_class(tmp_path: Path):
    """X's class byte set to 0: scipy failed with UnboundLocalError."""
    write_svhn(tmp_path / "svhn", n_train=3, n_test=1)
    path = tmp_path / "svhn" / "train_32x32.mat"
    path.write_bytes(with_ints(path.read_bytes(), (6, 8, 9), (6, 8, 0), "<3I"))
    with pytest.raises(VaekitError, match="'X' is not an array of real numbers"):
        open_dataset(tmp_path / "svhn")


@pytest.mark.parametrize("claimed", [(4096, 2**31 - 1), (2**20, 4)])
def test_mat_dimensions_beyond_the_data_are_refused(tmp_path: Path, claimed: tuple):
    write_olivetti(tmp_path / "olivetti", n=4)
    path = tmp_path / "olivetti" / "olivettifaces.mat"
    path.write_bytes(with_ints(path.read_bytes(), (4096, 4), claimed, "<2i"))
    with pytest.raises(VaekitError, match="'faces' claims dimensions"):
        open_dataset(tmp_path / "olivetti")


def _image_folder(folder: Path) -> Path:
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (5, 5), i * 50).save(folder / label / f"{i}.png")
    return folder


def test_symlink_loops_in_an_image_folder(tmp_path: Path):
    """A folder linking to itself and image names linking to each other: listed once,
    without following the loop, and the looping names are not taken for images."""
    folder = _image_folder(tmp_path / "images")
    os.symlink(folder, folder / "a" / "again")
    os.symlink(folder / "b" / "y.png", folder / "b" / "x.png")
    os.symlink(folder / "b" / "x.png", folder / "b" / "y.png")
    dataset = reads_or_refuses(lambda: open_dataset(folder), folder)
    assert len(dataset.train) + len(dataset.test) == 6


def test_an_image_folder_of_damaged_files(tmp_path: Path):
    folder = _image_folder(tmp_path / "images")
    for path in folder.rglob("*.png"):
        path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(VaekitError, match="none of the 6 images could be decoded"):
        open_dataset(folder)


@pytest.mark.parametrize(
    ("line", "message"),
    [(b"\xff\xfe 0\n", "cannot read"), (b"../../outside.jpg 0\n", "is not a file name")],
)
def test_celeba_partition_damaged_or_escaping(tmp_path: Path, line: bytes, message: str):
    root = tmp_path / "celeba"
    (root / "img_align_celeba").mkdir(parents=True)
    Image.new("RGB", (12, 14)).save(root / "img_align_celeba" / "000001.jpg")
    Image.new("RGB", (12, 14)).save(tmp_path / "outside.jpg")
    (root / "list_eval_partition.txt").write_bytes(b"000001.jpg 0\n" + line)
    with pytest.raises(VaekitError, match=message):
        open_dataset(root)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("shape", ["a", 1, 5, 5]),  # TypeError from numpy's memmap
        ("shape", [10**9, 1, 5, 5]),  # more than images.u8 holds
        ("skipped", 3),  # TypeError: len() of an int
        ("max_value", "x"),  # ValueError from float()
        ("labels", "yes"),
    ],
)
def test_prepared_header_found_by_fuzzing(tmp_path: Path, key: str, value: object):
    source = _image_folder(tmp_path / "images")
    prepared = tmp_path / "prepared"
    shutil.copytree(open_dataset(source).info["prepared"], prepared)
    header = json.loads((prepared / "header.json").read_text())
    (prepared / "header.json").write_text(json.dumps({**header, key: value}))
    with pytest.raises(VaekitError, match="a broken prepared dataset"):
        open_dataset(prepared)


def test_png_chunk_claiming_2_gb_is_skipped_without_allocating_it(tmp_path: Path):
    """PIL read a damaged IDAT chunk whole at the length it claims (up to 2 GB): MemoryError
    under a memory cap. Decoded from the file's bytes in memory, the read stops at the data
    that is there (which here is all the image needs)."""
    folder = _image_folder(tmp_path / "images")
    path = folder / "a" / "1.png"
    png = path.read_bytes()
    at = png.index(b"IDAT")
    path.write_bytes(png[: at - 4] + struct.pack(">I", 2**31 - 1) + png[at:])
    with memory_limit(1 << 30):
        dataset = open_dataset(folder)
    assert len(dataset.train) + len(dataset.test) == 6
