import gzip
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import idx_bytes, write_idx_folder
from vaekit.data.builtin import IDX_ROLES
from vaekit.data.datasets import open_dataset
from vaekit.data.fetch import find_in_dir
from vaekit.data.formats import read_idx, read_idx_dataset
from vaekit.errors import VaekitError


def test_idx_round_trip_plain_and_gzipped(tmp_path: Path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a").write_bytes(idx_bytes(array))
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), array)


def test_idx_checksum_is_of_decompressed_bytes(tmp_path: Path):
    import hashlib

    data = idx_bytes(np.zeros((3, 2, 2), np.uint8))
    (tmp_path / "a.gz").write_bytes(gzip.compress(data, compresslevel=1))
    read_idx(tmp_path / "a.gz", hashlib.sha256(data).hexdigest())
    with pytest.raises(VaekitError, match="checksum mismatch"):
        read_idx(tmp_path / "a.gz", "0" * 64)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not an IDX file"),
        (b"\x1f\x8b\x08\x00junk", "not an IDX file"),
        (bytes([0, 0, 0x08, 3]) + b"\x00\x00", "truncated IDX header"),
        (idx_bytes(np.zeros((4, 5, 5), np.uint8))[:-7], "truncated IDX file"),
        (idx_bytes(np.zeros((4, 5, 5), np.uint8)) + b"\x00", "too long"),
    ],
)
def test_idx_bad_files_name_the_file_and_fault(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "bad-idx"
    path.write_bytes(content)
    with pytest.raises(VaekitError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_corrupt_and_cut_gzip(tmp_path: Path):
    good = gzip.compress(idx_bytes(np.zeros((50, 8, 8), np.uint8)))
    (tmp_path / "cut.gz").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.gz").write_bytes(b"this is not gzip")
    for name in ("cut.gz", "junk.gz"):
        with pytest.raises(VaekitError, match="cannot read"):
            read_idx(tmp_path / name)


def test_missing_file(tmp_path: Path):
    with pytest.raises(VaekitError, match="file not found"):
        read_idx(tmp_path / "nope")


def test_dataset_reader_checks_counts(tmp_path: Path):
    folder = write_idx_folder(tmp_path / "d", n_train=10, n_test=5, gz=False)
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(9, np.uint8)))
    paths = find_in_dir(folder, IDX_ROLES)
    with pytest.raises(VaekitError, match="9 labels for 10 images"):
        read_idx_dataset(paths, None)


def test_dataset_reader_shapes(idx_folder: Path):
    raw = read_idx_dataset(find_in_dir(idx_folder, IDX_ROLES), None)
    assert raw["train_images"].shape == (60, 1, 12, 12)
    assert raw["test_images"].shape == (20, 1, 12, 12)
    assert raw["train_labels"].dtype == np.int64


@pytest.mark.parametrize(
    ("array", "message"),
    [
        # the shape given, not the one with a channel axis added ((0, 1, 8, 8) matched the
        # shapes the message asked for)
        (np.zeros((0, 8, 8), np.uint8), "a.npy: holds no images (shape (0, 8, 8))"),
        (np.zeros((6, 8, 8, 3), np.uint8), "channels last: vaekit takes (N, C, H, W); save "
                                           "a.transpose(0, 3, 1, 2)"),
        (np.zeros((6, 5, 8, 8), np.uint8), "a.npy: expected images shaped (N, H, W) or (N, C, "
                                           "H, W) with C 1 or 3, got (6, 5, 8, 8)"),
    ],
)  # fmt: skip
def test_an_array_that_is_no_images_says_what_it_is(tmp_path: Path, array, message):
    """The message named the array "train_images", a name of vaekit's the user never gave."""
    np.save(tmp_path / "a.npy", array)
    with pytest.raises(VaekitError) as err:
        open_dataset(tmp_path / "a.npy")
    assert message in str(err.value) and "train_images" not in str(err.value)


def test_a_gz_file_past_the_most_is_refused_not_cut(tmp_path: Path, monkeypatch):
    """It was read up to MAX_GZIP_BYTES and the rest dropped without a word: the check after
    the read could never see more."""
    from vaekit.data import formats

    monkeypatch.setattr(formats, "MAX_GZIP_BYTES", 100)
    (tmp_path / "big.gz").write_bytes(gzip.compress(bytes(101)))
    with pytest.raises(VaekitError, match="decompresses to more than 100 bytes"):
        formats.read_bytes(tmp_path / "big.gz")
    (tmp_path / "fits.gz").write_bytes(gzip.compress(bytes(100)))
    assert formats.read_bytes(tmp_path / "fits.gz") == bytes(100)
