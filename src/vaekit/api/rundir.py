"""Run directories kept safe: the folders `--out` may not be, the files vaekit may remove, a new
run built beside the one it replaces, and the run files no command may write over.

Replacing RUNDIR (`vaekit train --out RUNDIR --overwrite`), step by step, and what a kill at
each moment leaves:

1. Before any work, RUNDIR must be a run directory that vaekit wrote (its config.json) and
   hold only the files vaekit writes there (RUN_FILES); otherwise vaekit refuses.
2. The new run is built in PARENT/.NAME.vaekit-new-PID. RUNDIR is untouched: a failure, a
   Ctrl-C or a kill leaves the old run. A failing process removes its hidden folder; after a
   kill, the next `vaekit train` with this --out does.
3. Once the new run holds a finished epoch (config.json, model.safetensors, checkpoint/), the
   two folders trade names in one step (renameat2 with RENAME_EXCHANGE). Killed before: as
   in 2; after: RUNDIR is the new run, which `--resume` continues.
4. The old run, now under the hidden name, loses vaekit's files, then its folder. Killed
   meanwhile: RUNDIR is the new run; the next `vaekit train` with this --out removes the rest.

Where the filesystem cannot exchange two folders (not Linux; NFS), step 3 is two renames:
RUNDIR to PARENT/.NAME.vaekit-old-PID, then the new run to RUNDIR. A kill between the two
leaves both runs complete under hidden names, and the next `vaekit train` with this --out
(or `--resume`) first puts the old run back. A new run with no RUNDIR before it follows the
same steps, so RUNDIR appears only with a finished epoch in it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError

from vaekit.api.run import (
    ANOMALY_FILE,
    ANOMALY_TENSORS_FILE,
    CURVES_FILE,
    EVAL_FILE,
    METRICS_FILE,
    OUTPUTS_DIR,
    RECONSTRUCTIONS_FILE,
    REPORT_FILE,
    SAMPLES_FILE,
    append_jsonl,
)
from vaekit.errors import VaekitError
from vaekit.files import exchange, signals_held
from vaekit.models.code_prior import PRIOR_RECORD, PRIOR_WEIGHTS
from vaekit.models.io import CONFIG_FILE, WEIGHTS_FILE, is_run_dir, save_weights
from vaekit.report.card import BESIDE_FILE, CARD_FILE, is_vaekit_card
from vaekit.training.checkpoint import CHECKPOINT_DIR, STATE_FILE, TENSORS_FILE
from vaekit.training.tracking import EVENTS_PREFIX, TENSORBOARD_DIR, TRACKING_FILE

if TYPE_CHECKING:
    from torch import nn

# Everything vaekit writes in a run directory: all that --overwrite may ever remove (with
# vaekit's own temporary files, ".NAME.*.tmp" for these names).
RUN_FILES = (CONFIG_FILE, WEIGHTS_FILE, METRICS_FILE, SAMPLES_FILE, RECONSTRUCTIONS_FILE,
             CURVES_FILE, EVAL_FILE, ANOMALY_FILE, ANOMALY_TENSORS_FILE,
             REPORT_FILE, CARD_FILE, BESIDE_FILE, TRACKING_FILE, PRIOR_WEIGHTS,
             PRIOR_RECORD)  # fmt: skip
CHECKPOINT_FILES = (TENSORS_FILE, STATE_FILE)
# What makes a run, and the records its commands read back (a calibrated anomaly detector, a
# code prior): no output given by a user is written over these (nor over checkpoint/*) of
# any run directory (`vaekit eval --json RUN/anomaly.json` left anomaly and serve refusing).
OWN_FILES = (CONFIG_FILE, WEIGHTS_FILE, METRICS_FILE, ANOMALY_FILE, ANOMALY_TENSORS_FILE,
             PRIOR_WEIGHTS, PRIOR_RECORD)  # fmt: skip
_NEW, _OLD = "new", "old"


def _is_temp(name: str, names: tuple[str, ...]) -> bool:
    """Whether `name` is vaekit's temporary file for one of `names` (files.atomic_write)."""
    return name.endswith(".tmp") and any(name.startswith(f".{n}.") for n in names)


def _vaekit_file(entry: Path, names: tuple[str, ...]) -> bool:
    """A plain file (no link, no folder) by one of `names`, or a temporary file for one."""
    known = entry.name in names or _is_temp(entry.name, names)
    if entry.name in (CARD_FILE, BESIDE_FILE):  # a README.md is vaekit's only if it says so
        known = is_vaekit_card(entry)
    return known and entry.is_file() and not entry.is_symlink()


def _checkpoint_folder(folder: Path) -> Path | None:
    checkpoint = folder / CHECKPOINT_DIR
    return checkpoint if checkpoint.is_dir() and not checkpoint.is_symlink() else None


def _events_folder(folder: Path) -> Path | None:
    """RUNDIR/tensorboard (--log tensorboard), whose files vaekit's writer names."""
    events = folder / TENSORBOARD_DIR
    return events if events.is_dir() and not events.is_symlink() else None


def _events_file(entry: Path) -> bool:
    return entry.name.startswith(EVENTS_PREFIX) and entry.is_file() and not entry.is_symlink()


def foreign_files(folder: Path) -> list[str]:
    """The entries of a run directory that vaekit did not write (symbolic links included)."""
    checkpoint, events = _checkpoint_folder(folder), _events_folder(folder)
    foreign = [
        e.name
        for e in sorted(folder.iterdir())
        if e not in (checkpoint, events) and not _vaekit_file(e, RUN_FILES)
    ]
    if events is not None:
        foreign += [f"{TENSORBOARD_DIR}/{e.name}" for e in sorted(events.iterdir())
                    if not _events_file(e)]  # fmt: skip
    if checkpoint is not None:
        foreign += [
            f"{CHECKPOINT_DIR}/{e.name}"
            for e in sorted(checkpoint.iterdir())
            if not _vaekit_file(e, CHECKPOINT_FILES)
        ]
    return foreign


def remove_run_files(folder: Path) -> list[str]:
    """Remove vaekit's files from `folder`, then the folder if nothing else is left.

    Returns what was left: the names of the files that vaekit did not write.
    """
    checkpoint = _checkpoint_folder(folder)
    if checkpoint is not None:
        for entry in checkpoint.iterdir():
            if _vaekit_file(entry, CHECKPOINT_FILES):
                entry.unlink()
        with contextlib.suppress(OSError):  # not empty: someone else's files
            checkpoint.rmdir()
    events = _events_folder(folder)
    if events is not None:
        for entry in events.iterdir():
            if _events_file(entry):
                entry.unlink()
        with contextlib.suppress(OSError):
            events.rmdir()
    for entry in folder.iterdir():
        if _vaekit_file(entry, RUN_FILES):
            entry.unlink()
    left = sorted(e.name for e in folder.iterdir())
    if not left:
        folder.rmdir()
    return left


def remove_temp_files(rundir: Path) -> None:
    """Remove the temporary files that a killed write left in a run directory."""
    for folder, names in ((rundir, RUN_FILES), (rundir / CHECKPOINT_DIR, CHECKPOINT_FILES)):
        if folder.is_dir():
            for entry in folder.iterdir():
                if _is_temp(entry.name, names) and _vaekit_file(entry, names):
                    entry.unlink()


def _refuse_shared_folder(text: str, out: Path) -> None:
    """--out may not be "", ".", the current folder or one above it, the home folder or /."""
    where = out.resolve()
    here = Path.cwd().resolve()
    what = None
    if text.strip() in ("", "."):
        what = "the current folder"
    elif where == here or here.is_relative_to(where):
        what = "the current folder" if where == here else "a folder above the current one"
    elif where == Path.home().resolve():
        what = "your home folder"
    elif where.parent == where:
        what = "the root of the filesystem"
    if what is not None:
        raise VaekitError(
            f"--out {text!r} is {what}: a run needs a folder of its own, like --out runs/NAME"
        )


def _hidden(out: Path, kind: str, pid: int | None = None) -> Path:
    return out.parent / f".{out.name}.vaekit-{kind}-{os.getpid() if pid is None else pid}"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a folder of a dead process whose number this one now has
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


def clear_leftovers(out: Path) -> None:
    """Tidy up after a vaekit process that was killed while making `out`: put back an old run
    that was moved aside (the two-rename swap), and remove the hidden folders it left."""
    if not out.parent.is_dir():
        return
    prefix = f".{out.name}.vaekit-"
    for folder in sorted(out.parent.iterdir()):
        kind, _, pid = folder.name.removeprefix(prefix).partition("-")
        if not folder.name.startswith(prefix) or kind not in (_NEW, _OLD) or not pid.isdigit():
            continue
        if _alive(int(pid)) or folder.is_symlink() or not folder.is_dir():
            continue
        if kind == _OLD and not out.exists() and is_run_dir(folder):
            os.rename(folder, out)
        elif remove_run_files(folder):
            warnings.warn(f"kept {folder}: it holds files vaekit did not write", stacklevel=2)


def check_out(out: str | Path, overwrite: bool, data: Any = None) -> Path:
    """The folder a new run will take, checked before any work: refused where it would hide
    or replace what is not a vaekit run's (see the module docstring), or lie in the folder
    of `data` (a path), where its files would be read as data."""
    text = str(out)
    path = Path(text).expanduser()
    _refuse_shared_folder(text, path)
    folder = Path(data).expanduser() if isinstance(data, str | Path) else None
    if folder is not None and folder.is_dir() and path.resolve().is_relative_to(folder.resolve()):
        raise VaekitError(
            f"--out {text} is inside the data folder {data}: the run's pictures would be read "
            "as data (an image folder's, another class); choose a folder outside it"
        )
    if ".." in path.parts:  # the folder's own name is needed: runs/a/.. is runs
        path = path.resolve()
    # Not inside another run: its own files would then hold a stranger (its checkpoint/ a
    # second run, and --overwrite of it refused for files "vaekit did not write").
    host = next((p for p in path.absolute().parents if is_run_dir(p)), None)
    if host is not None:
        raise VaekitError(f"{path} is inside the run directory {host}: choose an --out beside it")
    missing = [p for p in path.absolute().parents if not p.exists()]
    if missing and missing[-1].parent == missing[-1].parent.parent:  # a new folder at "/"
        raise VaekitError(
            f"{path}: {missing[-1]} does not exist, and a run makes no folder at the file "
            "system's root: check the path, or make the folder first"
        )
    clear_leftovers(path)
    if not (path.exists() or path.is_symlink()):
        return path
    if path.is_symlink() or not path.is_dir():  # (--overwrite would not replace it either)
        raise VaekitError(
            f"{path} exists and is not a folder; not replacing it: choose another --out"
        )
    if not overwrite:
        raise VaekitError(f"{path} already exists: choose another --out or pass --overwrite "
                          "(in Python: out=, overwrite=True)")  # fmt: skip
    _check_replaceable(path)
    return path


@contextlib.contextmanager
def training(path: Path) -> Iterator[None]:
    """The run directory `path`, held by this process while it trains on it: a second
    `vaekit train --resume` (or `--overwrite`) of it meanwhile is refused, where both would
    write its metrics, weights and checkpoint in turn. A lock on the folder itself (flock):
    it writes nothing, and a killed process lets go of it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise VaekitError(
                f"{path} is being trained by another process (a vaekit train still running "
                "on it): wait for it to end, or stop it first"
            ) from None
        except OSError:  # a file system without locks (some network ones): no guard there
            pass
        yield
    finally:
        os.close(fd)  # (and the lock with it)


# The manifest `vaekit export` writes beside its files (vaekit.api.export).
EXPORT_MANIFEST = "export.json"


def _check_replaceable(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        raise VaekitError(f"{path} exists and is not a folder; not replacing it")
    with training(path):  # not a run that another process is training now
        pass
    if not any(path.iterdir()):
        return
    if not is_run_dir(path):
        raise VaekitError(
            f"{path} is not a vaekit run directory (no {CONFIG_FILE} written by vaekit); "
            "not replacing it"
        )
    foreign = foreign_files(path)
    if OUTPUTS_DIR in foreign:
        raise VaekitError(
            f"{path} holds {OUTPUTS_DIR}/, what vaekit's commands wrote from this run's model; "
            "not replacing it: move it out (or delete it), or choose another --out"
        )
    if foreign:
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        written = (  # `vaekit export RUNDIR -o RUNDIR`'s files alone: vaekit wrote them
            "what `vaekit export` wrote"
            if set(foreign) <= _exported(path)
            else "files vaekit did not write"
        )
        raise VaekitError(
            f"{path} holds {written} ({shown}); not replacing it: move them out, or choose "
            "another --out"
        )


# The --out folders (resolved) where this process's newest run there took its place (after
# its first epoch): what an interrupt's last line says of --overwrite (cli.main._interrupted).
PLACED: set[Path] = set()


def _exported(path: Path) -> set[str]:
    """The files an export in `path` wrote (its manifest and those the manifest names)."""
    try:
        manifest = json.loads((path / EXPORT_MANIFEST).read_text())
        return {EXPORT_MANIFEST, *(str(f["file"]) for f in manifest["files"].values())}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return set()


class NewRun:
    """A run directory under construction beside `out`, which it replaces (`place`) once it
    holds a finished epoch; `discard` removes it if it never did."""

    def __init__(self, out: Path, overwrite: bool) -> None:
        self.out, self.overwrite = out, overwrite
        PLACED.discard(out.expanduser().resolve())  # (an earlier run of this process's)
        self.path = _hidden(out, _NEW)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            self.path.mkdir()
        except OSError as err:  # a read-only folder, a file where a folder is needed, ...
            there = next((p for p in out.parents if p.exists()), None)
            why = (f"{there} is a file, not a folder" if there is not None and not there.is_dir()
                   else err.strerror or str(err))  # fmt: skip
            raise VaekitError(
                f"{out}: cannot make the run there ({why}); choose another --out"
            ) from None
        self.placed = False
        self.old: Path | None = None  # the replaced run, until it is removed
        # Held while it trains, as `training` holds a resumed run: the lock is on the folder,
        # so it follows it to `out`, and a --resume or --overwrite of it meanwhile is refused.
        self._held: int | None = os.open(self.path, os.O_RDONLY)
        with contextlib.suppress(OSError):  # a file system without locks: no guard there
            fcntl.flock(self._held, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        """Let go of the run: its training has ended (or failed)."""
        if self._held is not None:
            os.close(self._held)
            self._held = None

    def place(self) -> Path:
        """Put the new run at `out` (exchanging it with an old run there). Returns `out`."""
        if not self.placed:
            exists = self.out.exists() or self.out.is_symlink()
            if exists and not self.overwrite:
                raise VaekitError(f"{self.out} appeared while this run trained; not replacing it")
            if exists:
                _check_replaceable(self.out)
            with signals_held():  # a swap is never half made
                self.old = self._swap() if exists else self._rename()
                self.placed = True
                PLACED.add(self.out.expanduser().resolve())
            self.path = self.out
        self._remove_old()
        return self.out

    def _rename(self) -> None:
        os.rename(self.path, self.out)

    def _swap(self) -> Path:
        if exchange(self.path, self.out):
            return self.path
        old = _hidden(self.out, _OLD)
        os.rename(self.out, old)
        try:
            os.rename(self.path, self.out)
        except BaseException:
            os.rename(old, self.out)
            raise
        return old

    def _remove_old(self) -> None:
        old, self.old = self.old, None
        if old is not None and old.exists():
            left = remove_run_files(old)
            if left:
                warnings.warn(
                    f"kept {old}: files appeared in the old run while the new one trained "
                    f"({', '.join(left[:3])})",
                    stacklevel=2,
                )

    def discard(self) -> None:
        """After a failure: remove the new run if it never took its place, else finish
        removing the old one."""
        if self.placed:
            self._remove_old()
        elif self.path.exists():
            remove_run_files(self.path)


def refuse_run_file(path: str | Path) -> None:
    """Refuse an output path that is a run directory's own file (OWN_FILES: config.json,
    model.safetensors, metrics.jsonl, anomaly.json, ..., or anything in checkpoint/), of
    any run directory."""
    given = Path(path).expanduser()
    for target in {given.parent.resolve() / given.name, given.resolve()}:
        folder = target.parent
        if target.name in OWN_FILES and is_run_dir(folder):
            raise VaekitError(f"{given} is the run {folder}'s own {target.name}; write elsewhere")
        if folder.name == CHECKPOINT_DIR and is_run_dir(folder.parent):
            raise VaekitError(
                f"{given} is in the run {folder.parent}'s checkpoint; write elsewhere"
            )


def check_resumable(path: Path) -> None:
    """Refuse an --out that holds no run, saying why there may be none."""
    if not path.exists():
        raise VaekitError(f"{path}: no run to resume (a run stopped before its first epoch "
                          "ended keeps nothing: train it again)")  # fmt: skip


def save_final(path: Path, record: dict[str, Any], model: nn.Module) -> None:
    """The final line of metrics.jsonl and the kept weights (the same as its last saved
    epoch's, or its best's); a full disk is one line saying what is kept."""
    try:
        append_jsonl(path / METRICS_FILE, record)
        save_weights(path, model)
    except (OSError, SafetensorError) as err:
        raise VaekitError(
            f"{path}: could not write its final files ({err}); every epoch is saved: free "
            f"some space, then `vaekit train --out {path} --resume` finishes it"
        ) from err
