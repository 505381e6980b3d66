"""Atomic file writes: write to a temporary name in the same folder, flush it to disk, then
rename. A reader (or a crash, or a kill) never sees a half-written file under the final name.
And the one atomic exchange of two folders, for replacing a run directory, and the one CSV
writer.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import errno
import glob
import io
import json
import math
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def files_under(folder: Path) -> Iterator[Path]:
    """Every file under `folder`, at any depth, as a path under it: not hidden ones, nor those
    in hidden folders (a name with a leading dot: .ipynb_checkpoints, a Mac's ._ files, a
    .trash: not the user's data). Links to folders are followed (a class folder that is
    a link to the images elsewhere), each real folder walked once, so that a link to a
    folder above it is no loop."""
    walked = set()
    for root, folders, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in walked:
            folders[:] = []
            continue
        walked.add(real)
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        yield from (Path(root) / name for name in sorted(names) if not name.startswith("."))


# The renames of the open `written_together` blocks, innermost last.
_TOGETHER: list[list[tuple[Path, Path]]] = []


def _host() -> str:
    """This machine's name as temporary names carry it (short: a file name has 255 bytes)."""
    return socket.gethostname().replace("~", "-")[:32]


def temporary_prefix(name: str) -> str:
    """How a temporary file or folder for `name` begins: hidden, and naming the process (and
    machine) that makes it, so that one a killed process left is known (`remove_stale`)."""
    return f".{name}.{os.getpid()}~{_host()}~"


def remove_stale(folder: Path, name: str) -> None:
    """Remove what processes of this machine no longer running left of their temporary files
    or folders for `name` in `folder` (a kill -9 in the middle of a write), so that they do
    not pile up."""
    host = _host()
    with contextlib.suppress(OSError):
        for entry in folder.glob(f".{glob.escape(name)}.*~*~*"):
            pid, made_on, _ = entry.name[len(name) + 2 :].split("~", 2)
            if made_on == host and pid.isdigit() and not _alive(int(pid)):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's: alive
        return True
    return True


@contextlib.contextmanager
def written_together() -> Iterator[None]:
    """The files `atomic_write` writes within the block are renamed into place together at
    its end (with Ctrl-C and SIGTERM held): a command interrupted or failing midway leaves
    every output as it was, or every one new, never a new CSV beside an old picture. Only
    for work that does not read back what it wrote."""
    moves: list[tuple[Path, Path]] = []
    _TOGETHER.append(moves)
    try:
        yield
    except BaseException:
        for tmp, _ in moves:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        _TOGETHER.remove(moves)
    with signals_held():
        for tmp, path in moves:
            os.replace(tmp, path)


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp_path)`, then rename tmp_path to `path` (with the usual permissions);
    within `written_together`, at the block's end."""
    path = Path(path)
    remove_stale(path.parent, path.name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path.name), suffix=".tmp",
                                   dir=path.parent)  # fmt: skip
    except OSError as err:  # named by the user's path, not the temporary one
        raise OSError(err.errno, err.strerror or str(err), str(path)) from None
    os.close(fd)
    try:
        write(Path(tmp))
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        # mkstemp makes the file private (0600); a run directory is meant to be shared.
        os.chmod(tmp, 0o666 & ~_umask())
        if _TOGETHER:
            _TOGETHER[-1].append((Path(tmp), path))
        else:
            os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        if err.filename != tmp and err.filename2 != tmp and tmp not in str(err):
            raise
        raise OSError(err.errno, err.strerror or str(err), str(path)) from err
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def finite_or_none(value: Any) -> Any:
    """The value with every NaN or infinite float replaced by None (strict JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(v) for v in value]
    return value


def write_json(path: str | Path, obj: Any) -> None:
    text = json.dumps(finite_or_none(obj), indent=2, allow_nan=False) + "\n"
    atomic_write(path, lambda p: p.write_text(text))


def save_csv(path: str | Path, header: list[Any], rows: Iterable[Iterable[Any]]) -> None:
    """A UTF-8 CSV file at `path`: the header, then the rows, one a line (Unix line ends), cells
    quoted where they need it (a comma, a quote, a newline), written atomically. The one CSV
    writer of every command and kind, so that their files read alike."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    text = buffer.getvalue()
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def exchange(a: str | Path, b: str | Path) -> bool:
    """Swap the two existing paths `a` and `b` in one step: Linux's renameat2 with
    RENAME_EXCHANGE, so that no moment exists at which either name is missing.

    Returns False, changing nothing, where the system or the filesystem cannot do it (not
    Linux, a kernel before 3.15, NFS, ...); other failures raise OSError.
    """
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]  # fmt: skip
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C (SIGINT) and SIGTERM wait until the block is done (then arrive): for work that
    must not be cut in half (a run directory's swap, a tracking store's setup). In the main
    thread only, where Python delivers signals; elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # Python-level handlers that note the signal: they run in the main thread whichever
    # thread the kernel gave it to (a blocked mask held only for this thread, and a
    # process-wide signal could land on one of torch's threads and interrupt the block).
    arrived: list[int] = []
    before = {s: signal.signal(s, lambda number, frame: arrived.append(number))
              for s in (signal.SIGINT, signal.SIGTERM)}  # fmt: skip
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
    for number in dict.fromkeys(arrived):  # then each arrives, as it would have
        handler = before[number]
        if callable(handler):
            handler(number, None)
        elif handler == signal.SIG_DFL:
            os.kill(os.getpid(), number)
