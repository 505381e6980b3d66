"""Registered files are checked against their published checksums when loaded, hashed once:
the digest is cached under the file's size and modification time."""

import json
import os
from pathlib import Path

import pytest

from tests.cli.test_cli import vaekit
from tests.conftest import write_idx_folder
from tests.data.writers import register_checksums, write_svhn
from vaekit.data import checksums
from vaekit.data.datasets import open_dataset
from vaekit.errors import VaekitError


@pytest.fixture
def svhn_folder(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path))
    write_svhn(tmp_path / "svhn", n_train=6, n_test=3)
    return tmp_path / "svhn"


@pytest.fixture
def md5_calls(monkeypatch) -> list[Path]:
    """The files whose MD5 is computed, in order."""
    calls: list[Path] = []
    real = checksums.file_md5

    def counting(path: Path) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(checksums, "file_md5", counting)
    return calls


def test_svhn_files_that_are_not_the_published_ones_are_refused(svhn_folder: Path, capsys):
    with pytest.raises(VaekitError) as info:
        open_dataset("svhn")  # the registry's MD5s are SVHN's, not these small files'
    message = str(info.value)
    assert "\n" not in message
    assert f"{svhn_folder / 'train_32x32.mat'}: checksum mismatch (md5 " in message
    assert "expected e26dedcc434d2e4c" in message and "vaekit data fetch svhn" in message
    assert vaekit("train", "--data", "svhn", "--out", svhn_folder.parent / "run") == 1
    err = capsys.readouterr().err
    assert "checksum mismatch" in err and len(err.strip().splitlines()) == 1


def test_right_files_load_and_are_hashed_once(svhn_folder: Path, monkeypatch, md5_calls):
    register_checksums(monkeypatch, "svhn", svhn_folder)
    md5_calls.clear()
    first = open_dataset("svhn")
    assert (len(first.train), len(first.test)) == (6, 3)
    assert sorted(p.name for p in md5_calls) == ["test_32x32.mat", "train_32x32.mat"]
    md5_calls.clear()
    again = open_dataset("svhn")
    assert md5_calls == [] and again.info["sha256"] == first.info["sha256"]
    cached = json.loads((checksums.cache_dir() / "checksums.json").read_text())
    entry = cached[str((svhn_folder / "train_32x32.mat").resolve())]
    assert entry["md5"] == checksums.file_md5(svhn_folder / "train_32x32.mat")


def test_a_changed_modification_time_is_checked_again(svhn_folder, monkeypatch, md5_calls):
    register_checksums(monkeypatch, "svhn", svhn_folder)
    open_dataset("svhn")
    test_file = svhn_folder / "test_32x32.mat"
    st = test_file.stat()
    os.utime(test_file, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))  # touched
    md5_calls.clear()
    open_dataset("svhn")
    assert md5_calls == [test_file]
    # Other bytes of the same size, the time set back: still seen, as the time differs.
    data = bytearray(test_file.read_bytes())
    data[-1] ^= 0xFF
    test_file.write_bytes(bytes(data))
    os.utime(test_file, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(VaekitError, match=r"test_32x32\.mat: checksum mismatch"):
        open_dataset("svhn")


def test_the_optional_extra_file_is_checked_too(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path))
    write_svhn(tmp_path / "svhn", n_train=4, n_test=2, n_extra=3)
    register_checksums(monkeypatch, "svhn", tmp_path / "svhn")
    assert len(open_dataset("svhn").train) == 7  # train + extra
    write_svhn(tmp_path / "svhn", n_train=4, n_test=2, n_extra=3, seed=1)
    register_checksums(monkeypatch, "svhn", tmp_path / "svhn")
    (tmp_path / "svhn" / "extra_32x32.mat").write_bytes(b"MATLAB 5.0 cut")
    with pytest.raises(VaekitError, match=r"extra_32x32\.mat: checksum mismatch"):
        open_dataset("svhn")


def test_sha256_files_share_the_cache(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path))
    folder = write_idx_folder(tmp_path / "fashion-mnist")
    calls: list[Path] = []
    real = checksums.content_sha256
    monkeypatch.setattr(checksums, "content_sha256", lambda p: calls.append(p) or real(p))
    for _ in range(2):
        with pytest.raises(VaekitError, match=r"checksum mismatch \(sha256 "):
            open_dataset("fashion-mnist")
    assert calls == [folder / "train-images-idx3-ubyte.gz"]  # the first file, hashed once


def test_an_unreadable_cache_is_started_afresh(svhn_folder: Path, monkeypatch, md5_calls):
    register_checksums(monkeypatch, "svhn", svhn_folder)
    table = checksums.cache_dir() / "checksums.json"
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text("[not json")
    md5_calls.clear()
    assert len(open_dataset("svhn").train) == 6 and len(md5_calls) == 2
    assert len(json.loads(table.read_text())) == 2


def test_a_datasets_checksum_covers_its_labels(tmp_path: Path):
    """The same images with other labels are other data (a conditional model's resume, or
    eval's data_is_the_runs, must tell them apart)."""
    import numpy as np

    images = np.random.default_rng(0).integers(0, 256, (50, 8, 8), dtype=np.uint8)
    labels = np.arange(50) % 3
    np.savez(tmp_path / "a.npz", images=images, labels=labels)
    np.savez(tmp_path / "b.npz", images=images, labels=labels[::-1].copy())
    np.savez(tmp_path / "c.npz", images=images, labels=labels)
    a, b, c = (open_dataset(tmp_path / f"{n}.npz").info["sha256"] for n in "abc")
    assert a == c and a != b
