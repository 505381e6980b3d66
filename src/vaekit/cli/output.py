"""Output files of the commands: their paths checked before any work (so a typo never costs a
computation), and every file written atomically (a failure or an interrupt leaves no
half-written PNG, NPY, CSV or JSON under its name)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from vaekit.errors import VaekitError
from vaekit.files import atomic_write


def writable(path: str | Path, suffix: str | tuple[str, ...]) -> Path:
    """`path` as an output file with `suffix` (or one of them), not a folder, in an existing,
    writable folder; refused where it is a run directory's own file (rundir.refuse_run_file)."""
    from vaekit.api.rundir import refuse_run_file

    out = Path(path)
    refuse_run_file(out)
    suffixes = (suffix,) if isinstance(suffix, str) else suffix
    names = ", ".join(suffixes[:-1]) + " or " + suffixes[-1] if suffixes[:-1] else suffixes[0]
    if out.suffix.lower() not in suffixes:
        raise VaekitError(f"{out}: expected a {names} file name")
    if out.is_dir():
        raise VaekitError(f"{out}: is a folder; give a {names} file name")
    _folder_writable(out, out.parent)
    return out


def writable_folder(path: str | Path, names: tuple[str, ...] = ()) -> Path:
    """A folder for several outputs (the files `names`): an existing folder, or one that can be
    made (it is made when the outputs are written, so a failure before leaves nothing behind).
    None of the files may be a run directory's own file."""
    from vaekit.api.rundir import refuse_run_file

    out = Path(path)
    for name in names:
        refuse_run_file(out / name)
    if out.exists() and not out.is_dir():
        raise VaekitError(f"{out}: exists and is not a folder")
    parent = out if out.is_dir() else next((p for p in out.parents if p.exists()), Path("."))
    if not parent.is_dir():
        raise VaekitError(f"{out}: {parent} is not a folder")
    _folder_writable(out, parent)
    return out


def _folder_writable(out: Path, folder: Path) -> None:
    if not folder.is_dir():
        raise VaekitError(f"{out}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise VaekitError(f"{out}: folder {folder} is not writable")


def check_space(path: Path, nbytes: int) -> None:
    """Refuse an output that would not fit on its disk, before computing it."""
    folder = path.parent if path.parent.exists() else Path(".")
    free = shutil.disk_usage(folder).free
    if nbytes > free:
        raise VaekitError(
            f"{path}: would need {_size(nbytes)}, and {folder} has {_size(free)} free: ask for "
            "fewer images"
        )


def _size(nbytes: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if nbytes < 1000 or unit == "PB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    raise AssertionError("unreachable")


def save_array(path: Path, array: np.ndarray) -> None:
    """A float32 .npy file, written atomically."""
    save_npy(path, array.astype(np.float32))


def save_npy(path: Path, array: np.ndarray) -> None:
    """An .npy file of `array` as it is (labels stay integers), written atomically."""

    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:
            np.save(f, array)

    atomic_write(path, write)


def save_batches(
    path: Path,
    shape: tuple[int, ...],
    batches: Iterable[np.ndarray],
    progress: Callable[[int], None] | None = None,
) -> None:
    """One float32 .npy file of `shape`, filled batch by batch through a memory map (memory
    stays that of one batch), renamed into place only once every row is written."""

    def write(tmp: Path) -> None:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
        done = 0
        for batch in batches:
            out[done : done + len(batch)] = batch
            done += len(batch)
            if progress is not None:
                progress(done)
        if done != shape[0]:
            raise AssertionError(f"wrote {done} rows of {shape[0]}")
        out.flush()
        del out

    atomic_write(path, write)


def save_csv(path: Path, header: list[str], rows: Iterable[list[object]]) -> None:
    """A CSV file (header, then rows; cells quoted where they need it), written atomically."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    text = buffer.getvalue()
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
