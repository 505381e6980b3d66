"""Broken inputs for property-based tests: valid small files cut short, overwritten, extended
or replaced, and the check every reader must pass on them.

A reader given any of these either reads the file (some damage leaves a valid file) or raises
one VaekitError whose one-line message names the file; any other exception, a hang or a
crash is a bug in vaekit. Profiles (how many cases) are registered in tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from vaekit.errors import VaekitError

# Sizes a header may claim: small, at the edges of 32-bit integers, and anything.
CLAIMED = st.one_of(
    st.integers(0, 70),
    st.sampled_from([2**15, 2**16, 10**9, 2**31 - 1, 2**31, 2**32 - 1]),
    st.integers(0, 2**32 - 1),
)
# One case that runs longer than this is taken for a hang.
HANG_SECONDS = 30
# Address space a case may add to the process: a reader that tries to allocate more (for a
# header claiming a huge size) fails with MemoryError instead of exhausting the machine.
HEADROOM_BYTES = 3 << 30


@st.composite
def damaged(draw: st.DrawFn, valid: bytes) -> bytes:
    """`valid` cut short, with bytes overwritten, inserted or appended, or replaced whole."""
    how = draw(st.sampled_from(("cut", "overwrite", "insert", "extend", "random")))
    data = bytearray(valid)
    if how == "cut":
        return bytes(data[: draw(st.integers(0, max(len(data) - 1, 0)))])
    if how == "random":
        return draw(st.binary(max_size=4096))
    if how == "extend":
        return bytes(data) + draw(st.binary(min_size=1, max_size=4096))
    for _ in range(draw(st.integers(1, 8))):
        # Headers hold most of what a reader trusts: aim half of the edits at the first bytes.
        end = len(data) if draw(st.booleans()) else min(len(data), 256)
        at = draw(st.integers(0, max(end - 1, 0)))
        chunk = draw(st.binary(min_size=1, max_size=8))
        if how == "overwrite":
            data[at : at + len(chunk)] = chunk
        else:
            data[at:at] = chunk
    return bytes(data)


def with_ints(valid: bytes, old: tuple[int, ...], new: tuple[int, ...], fmt: str) -> bytes:
    """`valid` with the first run of integers `old` (packed with struct format `fmt`, one
    letter per integer after the byte order) replaced by `new`: a header claiming other sizes."""
    before, after = struct.pack(fmt, *old), struct.pack(fmt, *new)
    at = valid.find(before)
    assert at >= 0, f"{old} not found in the file"
    return valid[:at] + after + valid[at + len(before) :]


@contextlib.contextmanager
def time_limit(seconds: int = HANG_SECONDS) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the block runs longer than `seconds`
    (where the platform has SIGALRM)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def hang(signum: int, frame: Any) -> None:
        raise TimeoutError(f"still running after {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def memory_limit(headroom: int = HEADROOM_BYTES) -> Iterator[None]:
    """Cap the process's address space at its present size plus `headroom` (Linux only)."""
    if not sys.platform.startswith("linux"):
        yield
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        in_use = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    cap = in_use + headroom
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def reads_or_refuses(read: Callable[[], Any], *names: str | Path) -> Any:
    """Call `read`; return its result, or None when it refused with a VaekitError whose
    message is one line naming one of `names` (a file or its folder). Any other exception
    propagates and fails the test."""
    with time_limit(), memory_limit():
        try:
            return read()
        except VaekitError as err:
            message = str(err)
            assert message and "\n" not in message, f"not one line: {message!r}"
            shown = [str(n) for n in names] + [Path(n).name for n in names]
            assert any(s in message for s in shown), f"names none of {shown}: {message}"
            return None
