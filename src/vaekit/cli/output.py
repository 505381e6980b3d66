"""Checks on output paths, made before any work so a typo never costs a computation. Every
file a command writes passes here: none may be a run directory's own file (any run's)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vaekit.errors import VaekitError
from vaekit.files import atomic_write


def writable(path: str | Path, suffix: str | tuple[str, ...]) -> Path:
    """`path` as an output file with `suffix` (or one of them) in an existing, writable
    folder; refused where it is a run directory's own file (rundir.refuse_run_file)."""
    from vaekit.api.rundir import refuse_run_file

    out = Path(path)
    refuse_run_file(out)
    suffixes = (suffix,) if isinstance(suffix, str) else suffix
    if out.suffix.lower() not in suffixes:
        names = " or ".join([", ".join(suffixes[:-1]), suffixes[-1]] if suffixes[:-1] else suffixes)
        raise VaekitError(f"{out}: expected a {names} file name")
    if not out.parent.is_dir():
        raise VaekitError(f"{out}: folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise VaekitError(f"{out}: folder {out.parent} is not writable")
    return out


def save_array(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda p: np.save(p.open("wb"), array.astype(np.float32)))


def output_folder(path: str, names: tuple[str, ...]) -> Path:
    """A folder (made when the command writes) for a command's files `names`, each refused
    where it is a run directory's own file."""
    from vaekit.api.rundir import refuse_run_file

    out = Path(path)
    for name in names:
        refuse_run_file(out / name)
    if out.exists() and not out.is_dir():
        raise VaekitError(f"{out}: exists and is not a folder")
    return out
