"""Checks on output paths, made before any work so a typo never costs a computation."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vaekit.errors import VaekitError
from vaekit.files import atomic_write


def writable(path: str, suffix: str) -> Path:
    out = Path(path)
    if out.suffix.lower() != suffix:
        raise VaekitError(f"{out}: expected a {suffix} file name")
    if not out.parent.is_dir():
        raise VaekitError(f"{out}: folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise VaekitError(f"{out}: folder {out.parent} is not writable")
    return out


def save_array(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda p: np.save(p.open("wb"), array.astype(np.float32)))
