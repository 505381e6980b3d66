"""The `vaekit` program's entry point: the command (vaekit.cli.main) imported inside a guard,
so that a Ctrl-C while Python is still importing it (the first tenth of a second or so) ends
as every interrupt does, in one line and exit status 130, not in a traceback."""

from __future__ import annotations

import sys


def command() -> None:
    try:
        from vaekit.cli.main import command as run
    except KeyboardInterrupt:
        print("\nvaekit: interrupted", file=sys.stderr)
        sys.exit(130)
    run()
