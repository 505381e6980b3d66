"""The `vaekit` program leaves without Python's slow module teardown (vaekit.cli.main.command):
its output must still be flushed, its exit handlers run and its exit status kept."""

import os
import subprocess
import sys

import pytest

PROGRAM = """
import atexit, sys
marker = sys.argv[1]
atexit.register(lambda: print("said at exit") or open(marker, "w").write("ran"))
sys.argv = ["vaekit", *sys.argv[2:]]
from vaekit.cli.main import command
command()
print("not reached")
"""
# Buffered output, as in a normal run through a pipe: PYTHONUNBUFFERED would hide a lost flush.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


@pytest.mark.parametrize(
    ("args", "status", "out", "err"),
    [
        (["--version"], 0, "vaekit ", ""),
        (["sample", "--no-such-option"], 2, "", "vaekit: error: sample: "),
        (["sample", "no-such-run"], 1, "", "vaekit: error: no-such-run: not a folder"),
    ],
)
def test_the_command_flushes_runs_exit_handlers_and_keeps_its_status(
    tmp_path, args, status, out, err
):
    marker = tmp_path / "exit-handler-ran"
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(marker), *args], capture_output=True, text=True, env=ENV
    )
    assert done.returncode == status, done.stderr
    # Through a pipe the output is block-buffered: it arrives only if it was flushed.
    assert out in done.stdout and "not reached" not in done.stdout
    assert err in done.stderr
    assert marker.read_text() == "ran"
    assert done.stdout.endswith("said at exit\n")  # an exit handler's output is flushed too


def test_sys_exit_with_a_message_is_printed_with_status_1(tmp_path):
    program = PROGRAM.replace(
        "from vaekit.cli.main import command",
        "import vaekit.cli.main as m\n"
        "m.main = lambda: sys.exit('stopped: why')\n"
        "command = m.command",
    )
    marker = tmp_path / "ran"
    done = subprocess.run([sys.executable, "-c", program, str(marker)], capture_output=True,
                          text=True, env=ENV)  # fmt: skip
    assert done.returncode == 1 and done.stderr.strip() == "stopped: why"


INTERRUPTED_AT = """
import builtins, sys
sys.argv = ["vaekit", "sample", "no-such-run"]
where = {where!r}
real = builtins.__import__

def interrupting(name, *args, **kwargs):
    if name == where:  # as a Ctrl-C while this module is being imported
        raise KeyboardInterrupt
    return real(name, *args, **kwargs)

builtins.__import__ = interrupting
from vaekit.cli.entry import command
command()
"""


@pytest.mark.parametrize("where", ["vaekit.cli.main", "vaekit.cli.options"])
def test_a_ctrl_c_while_the_program_starts_is_one_line_not_a_traceback(where):
    """A Ctrl-C in the first tenth of a second, while Python imports the command (the entry
    point's import of vaekit.cli.main, then what the commands import)."""
    done = subprocess.run([sys.executable, "-c", INTERRUPTED_AT.format(where=where)],
                          capture_output=True, text=True, env=ENV)  # fmt: skip
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip() == "vaekit: interrupted", done.stderr
