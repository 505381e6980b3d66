"""The `vaekit` command. Each subcommand lives in its own module with `add_parser` and `run`;
heavy imports (torch) happen inside `run`, so `vaekit --help` is instant."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import errno
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from vaekit.cli import (
    anomaly,
    data,
    evaluate,
    export,
    fit_prior,
    latent,
    reconstruct,
    report,
    restore,
    sample,
    serve,
    train,
    tune,
)
from vaekit.version import __version__

COMMANDS = (
    train,
    fit_prior,
    evaluate,
    sample,
    reconstruct,
    latent,
    restore,
    anomaly,
    report,
    serve,
    data,
    export,
    tune,
)

EPILOG = """examples:
  vaekit train --data fashion-mnist --model conv --epochs 5 --out runs/fm
  vaekit eval runs/fm --iw-samples 1000
  vaekit sample runs/fm -n 64 -o samples.png
  vaekit reconstruct runs/fm -n 16 -o reconstructions.png
  vaekit data list

Run `vaekit COMMAND --help` for the options of each command."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage mistakes end, like every other error, in one line: what
    is wrong, and where to read more (exit status 2, argparse's)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No abbreviations: `--over` must not mean --overwrite (or become it one release
        # later, when another --over... flag makes it ambiguous).
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("vaekit").strip()
        where = f"{command}: " if command else ""
        self.exit(2, f"vaekit: error: {where}{message} (see `{self.prog} --help`)\n")

    def parse_known_args(
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """As argparse's, except that a subcommand refuses what it does not know itself, so
        that the message points to its own --help (argparse leaves unknown arguments to the
        top-level parser, whose help does not list them)."""
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and self.prog.removeprefix("vaekit").strip():
            message = f"unrecognized arguments: {' '.join(extras)}"
            for flag in [e.split("=")[0] for e in extras if e.startswith("--")][:1]:
                for close in difflib.get_close_matches(flag, self._option_string_actions, 1):
                    message += f"; did you mean {close}?"
            self.error(message)
        return parsed, extras


DEBUG_HELP = "on an error, show the traceback instead of the one-line message"
QUIET_HELP = "no progress bars (an autoregressive decoder's pixel-by-pixel one included)"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="vaekit",
        description="Variational Autoencoders: train on your data, then sample and reconstruct.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vaekit {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(sub)
    for command in subcommands(parser):
        # Also after the command; SUPPRESS keeps `vaekit --debug CMD` from being reset.
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help=DEBUG_HELP)  # fmt: skip
        options = command._option_string_actions
        if "--device" in options and "--quiet" not in options:  # every command that computes
            command.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    return parser


def subcommands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every (sub)command's parser under `parser`, depth first (`data` and `data list`...)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += [child, *subcommands(child)]
    return found


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"vaekit: warning: {message}\n"


# The system's refusals to write that name no file ("[Errno 28] No space left on device"):
# the line then says where the command was writing.
WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)


def one_line(err: BaseException, args: argparse.Namespace | None = None) -> str:
    """What went wrong, as one line. A user's mistake (VaekitError) or the system's refusal
    (OSError: a full disk, a folder without permission) says it itself, with where the
    command writes where the system named no file; anything else is a bug in vaekit, or
    memory running out."""
    from vaekit.errors import VaekitError

    text = "; ".join(line.strip() for line in str(err).splitlines() if line.strip())
    if isinstance(err, OSError) and err.filename is None and err.errno in WRITE_ERRORS:
        return f"{text}, writing {_writes_to(args)}"
    if isinstance(err, VaekitError | OSError):
        return text
    if _peer_lost(err, text):
        again = ""
        if args is not None and getattr(args, "command", None) == "train":
            out = getattr(args, "out", None) or "RUNDIR"
            again = f"; vaekit train --out {out} --resume continues from its last saved epoch"
        return f"another process of the group failed or was stopped ({text}){again}"
    if isinstance(err, MemoryError) or "out of memory" in text or "allocate memory" in text:
        return (
            f"out of memory ({text or 'MemoryError'}): ask for less at once (fewer images, "
            "a smaller batch), or rerun with --debug for the traceback"
        )
    return (
        f"unexpected {type(err).__name__}: {text} (a bug in vaekit: rerun with --debug for "
        "the traceback, and please report it)"
    )


# What gloo and NCCL say when another process of the group is gone.
PEER_GONE = ("Connection reset by peer", "Connection closed by peer", "Broken pipe",
             "ncclRemoteError", "remote process exited")  # fmt: skip


def _peer_lost(err: BaseException, text: str) -> bool:
    """Whether `err` is the process group's transport failing under torchrun because another
    process died or was killed (which is not a bug here)."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return False
    network = isinstance(err, getattr(dist, "DistNetworkError", ()))
    return isinstance(err, RuntimeError) and (network or any(s in text for s in PEER_GONE))


def _run_reporting_pixels(args: argparse.Namespace) -> int:
    """Run the command with a progress bar for any pixel-by-pixel decoding (an
    autoregressive decoder's images, reached through every app), but under --quiet; an
    output command's files renamed into place together at its end (cli.output.add_overwrite)."""
    from vaekit.files import written_together
    from vaekit.progress import Bars, reporting

    together = written_together() if getattr(args, "together", False) else contextlib.nullcontext()
    quiet = getattr(args, "quiet", False)
    with Bars() as bars, reporting(None if quiet else bars.update), together:
        return args.run(args)


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, a scheduler's stop), taken as Ctrl-C is: the same clean-up of what
    the command was making, then exit status 143."""


def _terminate(number: int, frame: Any) -> NoReturn:
    raise Terminated


def _refuse_torchrun(args: argparse.Namespace) -> None:
    """Only `train` runs across processes: any other command under torchrun would run once
    per process and write its files as many times; said once, by the first process."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and args.command != "train":
        from vaekit.errors import VaekitError
        from vaekit.training.distributed import SharedError, is_main_process

        said = f"vaekit {args.command} runs in one process: start it without torchrun (only "
        raise (VaekitError if is_main_process() else SharedError)(
            said + "vaekit train trains across processes)"
        )


def main(argv: Sequence[str] | None = None) -> None:
    warnings.formatwarning = _one_line_warning
    args = build_parser().parse_args(argv)
    main_thread = threading.current_thread() is threading.main_thread()  # (where Python can)
    if main_thread and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:  # (a caller's stays)
        signal.signal(signal.SIGTERM, _terminate)
    try:
        _refuse_torchrun(args)
        code = _run_reporting_pixels(args)
    except KeyboardInterrupt as stop:
        _remove_made()
        _interrupted(args, 143 if isinstance(stop, Terminated) else 130)
    except BrokenPipeError:  # `vaekit ... | head` stopped reading: nothing to say, as cat
        with contextlib.suppress(OSError, ValueError):  # no second error at the exit's flush
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)  # 128 + SIGPIPE, what a shell reports for a killed pipe writer
    except Exception as err:
        _remove_made()
        if args.debug:
            raise
        rank = os.environ.get("RANK", "0")
        if rank == "0":  # under torchrun, the first process says it
            print(f"vaekit: error: {one_line(err, args)}", file=sys.stderr)
        elif os.environ.get("LOCAL_RANK", rank) == "0" and not _said_by_main(err):
            # the first process of another machine: its own error (the run folder missing
            # there, say), which the first process does not know, said where it is seen
            print(f"vaekit: error (process {rank}): {one_line(err, args)}", file=sys.stderr)
        sys.exit(1)
    if code:
        _remove_made()
    _kept_made()
    sys.exit(code or 0)


def _said_by_main(err: BaseException) -> bool:
    """Whether `err` is the first process's own, shared with this one (which leaves it to
    the first process to say)."""
    shared = sys.modules.get("vaekit.training.distributed")
    return shared is not None and isinstance(err, shared.SharedError)


def _remove_made() -> None:
    """No empty RUNDIR/outputs/COMMAND/ left by a command that failed (cli.output)."""
    from vaekit.cli.output import remove_made

    remove_made()


def _kept_made() -> None:
    """A command that succeeded keeps the folders it made (a later command in the same
    process, as in tests, must not take them for its own)."""
    from vaekit.cli.output import forget_made

    forget_made()


def _interrupted(args: argparse.Namespace, code: int = 130) -> None:
    """The line an interrupted command ends with, then exit status `code` (130 for Ctrl-C,
    143 for SIGTERM). What it asks of the run's modules, only where they were imported: a
    Ctrl-C while torch was being imported made a second import of it fail in a traceback."""
    hint = ""
    if args.command == "train":
        out = getattr(args, "out", None) or "RUNDIR"
        hint = f" (a run that finished an epoch continues with: vaekit train --out {out} --resume)"
        rundir = sys.modules.get("vaekit.api.rundir")  # (not imported: nothing placed yet)
        if getattr(args, "overwrite", False):
            given = getattr(args, "out", None)  # (None: --out came from --config)
            runs = getattr(rundir, "PLACED", set())  # (a half-made import has none)
            placed = Path(given).expanduser().resolve() in runs if given else bool(runs)
            if placed:
                hint += "; --out holds the new run, the old one is gone"
            elif given is None or Path(given).expanduser().exists():  # (else: none to keep)
                hint += "; until the new run's first epoch ends, --out still holds the old run"
        if _wrapping_up(out):
            hint = (
                f" (its training had finished: vaekit train --out {out} --resume writes its "
                "pictures, report and card)"
            )
    print(f"\nvaekit: interrupted{hint}", file=sys.stderr)
    sys.exit(code)


def _writes_to(args: argparse.Namespace | None) -> str:
    """Where a command writes, for a line about a failed write: its -o / --out (or --json,
    --npy), else its file in the run directory (`writes_in_run`: report.html, eval.json),
    else the run directory's outputs/COMMAND/ folder."""
    for key in ("output", "out", "json", "npy", "per_example"):
        given = getattr(args, key, None)
        if given:
            return str(given)
    rundir = getattr(args, "rundir", None)
    command = getattr(args, "command", None)
    if rundir and getattr(args, "writes_in_run", None):  # (report: into the run itself)
        return f"{Path(rundir) / args.writes_in_run}"
    return f"{rundir}/outputs/{command}/" if rundir and command else "its output"


def _wrapping_up(out: str) -> bool:
    """Whether the run at `out` was interrupted in its wrap-up: its final line written, its
    pictures not (or those of an earlier wrap-up: vaekit.api.run.wrapup_cut_short); not
    where the command never reached the run's modules."""
    if "vaekit.api.run" not in sys.modules:
        return False
    try:  # (a module whose import the Ctrl-C cut short is in sys.modules, half made)
        from vaekit.api.run import read_metrics, wrapup_cut_short
        from vaekit.errors import VaekitError
    except Exception:
        return False

    path = Path(out)
    try:
        finished = path.is_dir() and any(r.get("final") for r in read_metrics(path))
    except (VaekitError, OSError):
        return False
    return finished and wrapup_cut_short(path)


def command() -> None:
    """The `vaekit` program: main(), then out of the process at once.

    Python's own shutdown, which frees every module one by one (torch, and the compiler stack
    that torch's optimizers import), took 0.5-1.1 s here after the work was done and every
    file written: a third of a short command such as `vaekit sample`. The exit handlers run
    and the output is flushed first, as in a normal exit; only that teardown is skipped.
    Under torchrun too: the exit handlers leave the process group first (a barrier, then its
    end); in the teardown, now and then a thread of the group was destroyed still running
    ("terminate called without an active exception", SIGABRT after a finished run).
    """
    code: object = 0
    try:
        main()
    except SystemExit as done:
        code = done.code
    except KeyboardInterrupt:  # before main's own handler: parsing, importing a command
        print("\nvaekit: interrupted", file=sys.stderr)
        code = 130
    if not isinstance(code, int):  # sys.exit("a message") or sys.exit(None), as Python does
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    import atexit
    import contextlib
    import os

    atexit._run_exitfuncs()  # first, as Python does: what they print is flushed below
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (... | head) or stream
            stream.flush()
    os._exit(code)
