"""Shared test helpers: tiny IDX files written by the tests themselves (no network, no
dependence on installed datasets)."""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Property-based (fuzz) tests: a few dozen generated cases per test in `make test`, the same
# every run; VAEKIT_FUZZ=soak (`make fuzz-soak`) draws hundreds of fresh ones.
settings.register_profile(
    "normal",
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "soak", max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("VAEKIT_FUZZ") or "normal")


# What a finished `vaekit train` run holds (with its default report), relative to the run.
RUN_FILES = {
    "config.json",
    "model.safetensors",
    "metrics.jsonl",
    "samples.png",
    "reconstructions.png",
    "curves.png",
    "report.html",
    "README.md",
    "checkpoint/state.safetensors",
    "checkpoint/state.json",
}


def png_declaring(width: int, height: int) -> bytes:
    """A PNG file of ~100 bytes whose header declares width x height 8-bit gray pixels (its
    one image row would not decode): a huge image without the memory or time to make one."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = zlib.compress(b"\0" * (width + 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", row) + chunk(b"IEND", b"")


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_folder(
    folder: Path,
    n_train: int = 60,
    n_test: int = 20,
    size: int = 12,
    gz: bool = True,
    seed: int = 0,
) -> Path:
    """Four IDX files with simple learnable images: a bright square whose place is the label."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 4, n).astype(np.uint8)
        images = (rng.random((n, size, size)) * 40).astype(np.uint8)
        half = size // 2
        for i, label in enumerate(labels):
            r, c = divmod(int(label), 2)
            images[i, r * half : (r + 1) * half, c * half : (c + 1) * half] = 230
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            data = idx_bytes(array)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def idx_folder(tmp_path: Path) -> Path:
    return write_idx_folder(tmp_path / "idx")


@pytest.fixture(autouse=True)
def _isolated_data_dirs(tmp_path_factory):
    """No test downloads or reads the user's cache: an empty cache, downloads switched off
    (the download tests switch them on against their own local server). Its own MonkeyPatch,
    not the test's: a test's `monkeypatch.undo()` undid these too, and a test then prepared
    images into the user's ~/.cache/vaekit (60-odd folders there)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VAEKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
        patch.setenv("VAEKIT_OFFLINE", "1")
        patch.delenv("VAEKIT_DATA", raising=False)
        yield


def write_npz(path: Path, n: int = 600, size: int = 16, seed: int = 0) -> Path:
    """An .npz of uint8 images (a bright square whose corner is the label) with labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    images = (rng.random((n, size, size)) * 60).astype(np.uint8)
    half = size // 2
    for i, label in enumerate(labels):
        r, c = divmod(int(label), 2)
        images[i, r * half : (r + 1) * half, c * half : (c + 1) * half] = 220
    np.savez(path, images=images, labels=labels)
    return path
