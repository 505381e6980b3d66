"""Where the cache is, and the digests of the files in it: each located file's checksum is
kept in <cache>/checksums.json under its path, size and modification time, so that only a new
or changed file is hashed again (vaekit.data.fetch verifies with it; the CIFAR-10 reader
checks its batches with it)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from vaekit.data.formats import content_sha256
from vaekit.errors import VaekitError
from vaekit.files import write_json

CHECKSUMS_FILE = "checksums.json"


def cache_dir() -> Path:
    return Path(os.environ.get("VAEKIT_CACHE", Path.home() / ".cache" / "vaekit"))


def file_md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError as err:
        raise VaekitError(f"{path}: cannot read ({err.strerror})") from None
    return h.hexdigest()


def cached_digest(path: Path, algorithm: str) -> str:
    """A file's digest as its FileSpec publishes it: "sha256" of the content (decompressed
    when .gz) or "md5" of the file. Hashed only when the file's size or modification time
    differs from those recorded with the digest in the cache's checksums.json."""
    stamp = _stamp(path)  # taken before hashing: a change meanwhile is seen next time
    entry = _read_checksums().get(str(path.resolve()))
    if isinstance(entry, dict) and entry.get("stamp") == stamp:
        digest = entry.get(algorithm)
        if isinstance(digest, str):
            return digest
    digest = content_sha256(path) if algorithm == "sha256" else file_md5(path)
    remember_digest(path, algorithm, digest, stamp)
    return digest


def remember_digest(
    path: Path, algorithm: str, digest: str, stamp: list[int] | None = None
) -> None:
    """Record a file's digest in checksums.json, under its size and modification time (as
    they are now, or `stamp` as they were when it was hashed)."""
    key, stamp = str(path.resolve()), stamp or _stamp(path)
    table = _read_checksums()
    entry = table.get(key)
    if not isinstance(entry, dict) or entry.get("stamp") != stamp:
        entry = {"stamp": stamp}
    entry[algorithm] = digest
    table[key] = entry
    try:
        cache_dir().mkdir(parents=True, exist_ok=True)
        write_json(cache_dir() / CHECKSUMS_FILE, table)
    except OSError:
        pass  # a read-only cache only costs hashing again next time


def _stamp(path: Path) -> list[int]:
    """[size, modification time in ns]: what tells that a file may have changed."""
    try:
        st = path.stat()
    except OSError as err:
        raise VaekitError(f"{path}: cannot read ({err.strerror})") from None
    return [st.st_size, st.st_mtime_ns]


def _read_checksums() -> dict[str, Any]:
    try:
        table = json.loads((cache_dir() / CHECKSUMS_FILE).read_text())
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: start afresh
    return table if isinstance(table, dict) else {}
