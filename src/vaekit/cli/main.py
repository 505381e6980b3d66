"""The `vaekit` command. Each subcommand lives in its own module with `add_parser` and `run`;
heavy imports (torch) happen inside `run`, so `vaekit --help` is instant."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from vaekit.cli import (
    anomaly,
    data,
    evaluate,
    export,
    latent,
    reconstruct,
    report,
    restore,
    sample,
    serve,
    train,
)
from vaekit.version import __version__

COMMANDS = (
    train,
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
)

EPILOG = """examples:
  vaekit train --data fashion-mnist --model conv --epochs 5 --out runs/fm
  vaekit eval runs/fm --iw-samples 1000
  vaekit sample runs/fm -n 64 -o samples.png
  vaekit reconstruct runs/fm -n 16 -o reconstructions.png
  vaekit data list

Run `vaekit COMMAND --help` for the options of each command."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vaekit",
        description="Variational Autoencoders: train on your data, then sample and reconstruct.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vaekit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"vaekit: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> None:
    warnings.formatwarning = _one_line_warning
    args = build_parser().parse_args(argv)
    from vaekit.errors import VaekitError

    try:
        code = args.run(args)
    except VaekitError as err:
        print(f"vaekit: error: {err}", file=sys.stderr)
        sys.exit(1)
    except OSError as err:  # a full disk, a folder without write permission, ...
        print(f"vaekit: error: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        hint = ""
        if args.command == "train":
            hint = (
                " (a run that finished an epoch continues with: vaekit train --out RUNDIR --resume)"
            )
        print(f"\nvaekit: interrupted{hint}", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
