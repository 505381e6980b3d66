"""Output files of the commands: their paths checked before any work (so a typo never costs a
computation), and every file written atomically (a failure or an interrupt leaves no
half-written PNG, NPY, CSV or JSON under its name)."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from vaekit.errors import VaekitError
from vaekit.files import atomic_write

if TYPE_CHECKING:  # numpy is imported where it is used: `vaekit --help` needs none of it
    import numpy as np

MOST_NAMED = 20  # files named in the refusal; beyond, how many more
# Names that are files, refused where a command writes a folder of several files.
FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".npy", ".npz", ".csv", ".parquet", ".json", ".txt",
                 ".html", ".wav", ".onnx", ".pt")  # fmt: skip


def add_overwrite(p: argparse.ArgumentParser, together: bool = True) -> None:
    """--overwrite, for every command that writes files of the user's. `together`: the
    command's files are renamed into place together when it ends (vaekit.files.
    written_together; main runs it so), for a command that reads back none of them."""
    p.add_argument("--overwrite", action="store_true",
                   help="replace output files that already exist (without it, the command "
                   "stops before any work, naming them)")  # fmt: skip
    p.set_defaults(together=together)


class Outputs:
    """Every file one command will write, and the one rule they all follow: no run
    directory's own file; an existing, writable folder (or one that can be made); the
    suffix the command writes; and no existing file replaced unless --overwrite. Files
    are declared first (`file`, `folder`), then `claim` checks them all at once, before any
    work, and refuses in one line naming each file that exists.

    With no -o, a command writes into RUNDIR/outputs/COMMAND/ (made by `claim`), never into
    the current folder.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.paths: list[Path] = []
        self.default: Path | None = None  # RUNDIR/outputs/COMMAND, where used
        self.made: set[Path] = set()  # folders that may be missing: they are made

    def _default(self, name: str) -> Path:
        from vaekit.api.run import OUTPUTS_DIR
        from vaekit.models.io import read_config

        read_config(self.args.rundir)  # a run directory, or the error loading it would give
        self.default = Path(self.args.rundir) / OUTPUTS_DIR / self.args.command
        self.made.add(self.default)
        return self.default / name

    def file(self, given: str | Path | None, default: str, suffix: str | tuple[str, ...],
             beside: tuple[str, ...] = ()) -> Path:  # fmt: skip
        """The file -o gave (or RUNDIR/outputs/COMMAND/`default`), with `suffix` (or one of
        them); `beside` are the endings of files written next to it (`_labels.npy`: for
        `latents.npy`, latents_labels.npy), claimed with it."""
        from vaekit.api.rundir import refuse_run_file

        _refuse_empty(given)
        out = Path(given) if given is not None else self._default(default)
        refuse_run_file(out)  # first: its own words, whatever the suffix
        suffixes = (suffix,) if isinstance(suffix, str) else suffix
        names = ", ".join(suffixes[:-1]) + " or " + suffixes[-1] if suffixes[:-1] else suffixes[0]
        if out.suffix.lower() not in suffixes:
            raise VaekitError(f"{out}: expected a {names} file name")
        if out.is_dir():
            raise VaekitError(f"{out}: is a folder; give a {names} file name")
        self.paths += [out] + [out.with_name(out.stem + end) for end in beside]
        return out

    def folder(self, given: str | Path | None, what: str, names: tuple[str, ...] = ()) -> Path:
        """The folder -o gave (or RUNDIR/outputs/COMMAND) for several files: `names`, and
        others claimed later (`claim(folder / name, ...)`). `what` says what goes in it, for
        the refusal of a file name (`-o clip.wav`)."""
        _refuse_empty(given)
        out = Path(given) if given is not None else self._default("")
        if out.suffix.lower() in FILE_SUFFIXES and not out.is_dir():
            raise VaekitError(
                f"{out}: this command writes a folder ({what}); give a folder name, not a "
                f"{out.suffix} file name"
            )
        if out.exists() and not out.is_dir():
            raise VaekitError(f"{out}: exists and is not a folder")
        parent = next((p for p in (out, *out.parents) if p.exists()), Path("."))
        if not parent.is_dir():
            raise VaekitError(f"{out}: {parent} is not a folder")
        self.made.add(out)
        self.paths += [out / name for name in names]
        return out

    def _refuse_inputs(self) -> None:
        """No output may be a file the command reads (an INPUT, --data, --from): with --overwrite
        it would be replaced by what was computed from it. Nor the data the run was trained
        on, or a file in its folder: the run's test part is read from it, and its checksum
        would no longer match (every later command on the run refused)."""
        given = [
            *(getattr(self.args, "inputs", None) or []),
            getattr(self.args, "data", None),
            getattr(self.args, "start", None),
            getattr(self.args, "end", None),
            *(getattr(self.args, "grid", None) or []),
        ]  # interpolate's --from, --to, --grid
        read = [Path(g) for g in given if isinstance(g, str | Path) and names_existing(g)]
        rundir = getattr(self.args, "rundir", None)
        trained_on = _run_data(rundir)
        for path in self.paths:
            if path.is_file() and any(os.path.samefile(path, r) for r in read):
                raise VaekitError(
                    f"{path} is one of this command's inputs: write the output elsewhere"
                )
            if (
                trained_on is not None
                and _within(path, trained_on)
                and not _within(path, Path(rundir))  # (a run kept in its data's folder)
            ):
                raise VaekitError(
                    f"{path} {'is' if trained_on.is_file() else 'is in'} the data the run "
                    f"was trained on, {trained_on}: write the output elsewhere"
                )

    def claim(self, *more: Path) -> None:
        """Check every declared file (and `more`) by the rule above; then make the default
        folder, if used."""
        from vaekit.api.rundir import refuse_run_file

        self.paths += more
        for path in self.paths:
            refuse_run_file(path)
            parent = next((p for p in path.parents if p.exists()), Path("."))
            if not parent.is_dir():
                raise VaekitError(f"{path}: {parent} is not a folder")
            if not os.access(parent, os.W_OK):
                raise VaekitError(f"{path}: folder {parent} is not writable")
            if path.parent != parent and path.parent not in self.made:
                raise VaekitError(f"{path}: folder {path.parent} does not exist")
        self._refuse_inputs()
        existing = [str(p) for p in dict.fromkeys(self.paths) if p.exists() or p.is_symlink()]
        if existing and not getattr(self.args, "overwrite", False):
            verb = "exists" if len(existing) == 1 else "exist"
            named = ", ".join(existing[:MOST_NAMED])
            if len(existing) > MOST_NAMED:
                named += f" and {len(existing) - MOST_NAMED} more"
            raise VaekitError(
                f"{named} already {verb}: pass --overwrite to replace "
                f"{'it' if len(existing) == 1 else 'them'}, or write elsewhere"
            )
        if self.default is not None:
            missing = [p for p in (self.default, *self.default.parents) if not p.exists()]
            self.default.mkdir(parents=True, exist_ok=True)
            _MADE.extend(reversed(missing))  # the outermost first
        self.paths = []


# The default folders `claim` made in this process: a command refused after its claim (its
# model cannot do what was asked, say) leaves none of them behind empty (remove_made).
_MADE: list[Path] = []


def names_existing(given: str | Path, folder: bool = False) -> bool:
    """Whether an argument names an existing file (a folder, with `folder`); False for one
    that cannot be a path (a sentence longer than a file name may be: the system refuses to
    look it up, Errno 36)."""
    try:
        path = Path(given).expanduser()
        return path.is_dir() if folder else path.is_file()
    except (OSError, ValueError):
        return False


def _run_data(rundir: Any) -> Path | None:
    """The file or folder a run directory's model was trained on, where config.json names
    one that is there (not a registered dataset, an array or a Python object)."""
    from vaekit.models.io import read_config

    if not isinstance(rundir, str | Path):
        return None
    try:
        data = read_config(rundir).get("data")
    except VaekitError:  # the command says what is wrong with the run, in its own words
        return None
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or data.get("source") not in ("path", "file", "folder"):
        return None
    path = Path(name).expanduser()
    return path if path.exists() else None


def _within(path: Path, data: Path) -> bool:
    """Whether `path` is the file `data`, or lies in the folder `data`."""
    target = path.expanduser().parent.resolve() / path.name
    if data.is_file():
        return target.exists() and os.path.samefile(target, data)
    return target.is_relative_to(data.resolve())


def _refuse_empty(given: str | Path | None) -> None:
    """-o "" (an unset shell variable, say) would be the current folder: refused."""
    if given is not None and not str(given).strip():
        raise VaekitError("-o is empty: give the file or folder to write")


def remove_made() -> None:
    """The folders `claim` made, innermost first, where they are still empty (cli.main calls
    it when a command fails or is interrupted)."""
    for folder in reversed(_MADE):
        with contextlib.suppress(OSError):  # something was written there: kept
            folder.rmdir()
    _MADE.clear()


def make_folder(path: Path) -> None:
    """Make an output folder (and its missing parents), recorded so that a command that then
    fails or is interrupted leaves none of them behind empty (remove_made)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    _MADE.extend(reversed(missing))


def forget_made() -> None:
    """The command succeeded: the folders it made are its outputs' (cli.main)."""
    _MADE.clear()


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
    import numpy as np

    save_npy(path, array.astype(np.float32))


def save_npy(path: Path, array: np.ndarray) -> None:
    """An .npy file of `array` as it is (labels stay integers), written atomically."""
    import numpy as np

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
    import numpy as np

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


def kind_cli(kind: Any) -> ModuleType | None:
    """A kind of data's cli part (`kind.part("cli")`), which only some kinds have (text's,
    audio's: vaekit.kinds.protocol); None for a kind whose package has no cli module, or that
    has no package. A cli module that is there but fails to import is the one-line
    VaekitError of Kind.part, not None: its error is not hidden."""
    import importlib.util

    if kind.package is None:
        return None
    try:
        if importlib.util.find_spec(f"{kind.package}.cli") is None:
            return None
    except ImportError:
        pass  # the kind's package itself cannot be imported: Kind.part says why, in one line
    return kind.part("cli")


def add_kind_arguments(command: str, p: argparse.ArgumentParser) -> None:
    """Each kind of data's own arguments of `command` (text's --decode and --beam-width for
    `sample`, say), added to its parser `p` where the command calls this: every kind with a
    cli part that has `add_arguments(command, parser)` is asked, in the kinds' order."""
    from vaekit.kinds.base import KINDS

    for declared in KINDS.all():
        cli = kind_cli(declared)
        add = getattr(cli, "add_arguments", None)
        if add is not None:
            add(command, p)


def own_flow(kind: Any, command: str) -> Callable[[argparse.Namespace], int] | None:
    """The flow a kind of data (a vaekit.kinds.base.Kind) has of its own at the command line
    for `command`, where its render part's FLOWS names the command: the function `command`
    of its cli part (vaekit.kinds.audio.cli, vaekit.kinds.text.cli). None: the command's
    shared flow serves the kind, asking its render part what to write."""
    if command not in kind.part("render").FLOWS:
        return None
    return getattr(kind.part("cli"), command)
