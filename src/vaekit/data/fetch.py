"""Locate a registered dataset's files on this machine.

Lookup order: $VAEKIT_DATA/<name>/, the user cache ($VAEKIT_CACHE or ~/.cache/vaekit/<name>/),
then known system folders (Debian's dataset packages). A file may be stored gzipped or not.
"""

from __future__ import annotations

import os
from pathlib import Path

from vaekit.data.registry import get_spec
from vaekit.errors import VaekitError


def cache_dir() -> Path:
    return Path(os.environ.get("VAEKIT_CACHE", Path.home() / ".cache" / "vaekit"))


def search_dirs(name: str) -> list[Path]:
    spec = get_spec(name)
    dirs = []
    if os.environ.get("VAEKIT_DATA"):
        dirs.append(Path(os.environ["VAEKIT_DATA"]) / name)
    dirs.append(cache_dir() / name)
    dirs.extend(Path(d) for d in spec.system_dirs)
    return dirs


def find_in_dir(folder: Path, file_names: dict[str, str]) -> dict[str, Path] | None:
    """role -> path when every file is in `folder` (plain or .gz), else None."""
    found = {}
    for role, fname in file_names.items():
        for candidate in (folder / fname, folder / f"{fname}.gz"):
            if candidate.is_file():
                found[role] = candidate
                break
        else:
            return None
    return found


def locate_files(name: str) -> dict[str, Path]:
    """role -> path of each file of a registered dataset; a clear error when they are missing."""
    spec = get_spec(name)
    names = {f.role: f.name for f in spec.files}
    if not names:
        return {}
    dirs = search_dirs(name)
    for folder in dirs:
        found = find_in_dir(folder, names)
        if found is not None:
            return found
    listed = ", ".join(f"{n}(.gz)" for n in names.values())
    looked = ", ".join(str(d) for d in dirs)
    hint = ""
    if "/usr/share/datasets/fashion-mnist" in spec.system_dirs:
        hint = " (on Debian: apt-get install dataset-fashion-mnist)"
    raise VaekitError(
        f"dataset {name!r} not found: put its files {listed} in {cache_dir() / name}{hint}; "
        f"looked in {looked}"
    )
