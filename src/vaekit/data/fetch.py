"""Locate a registered dataset's files, downloading them when they are nowhere on this machine.

Lookup order: $VAEKIT_DATA/<name>/, the user cache ($VAEKIT_CACHE or ~/.cache/vaekit, then
<name>/), known system folders (Debian's dataset packages), then a download from the canonical
URL into the cache. A download streams to a temporary file, is checked (its length against the
server's, the SHA-256 of its decompressed content where one is known), and only then renamed:
an interrupted or corrupt download never leaves a file that looks complete.
Set VAEKIT_OFFLINE=1 to never download.

Loading checks each located file against its published checksum too (verify_files); a file's
digest is cached in <cache>/checksums.json under its path, size and modification time, so
only a new or changed file is hashed again.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable
from http.client import HTTPException
from pathlib import Path

from vaekit.data.checksums import CHECKSUMS_FILE as CHECKSUMS_FILE
from vaekit.data.checksums import cache_dir as cache_dir
from vaekit.data.checksums import cached_digest as cached_digest
from vaekit.data.checksums import file_md5 as file_md5
from vaekit.data.checksums import remember_digest as remember_digest
from vaekit.data.formats import content_sha256
from vaekit.data.registry import get_spec, registered_specs
from vaekit.data.spec import DatasetSpec, FileSpec
from vaekit.errors import VaekitError

# Called with (file name, bytes so far, total bytes or None) while downloading.
Progress = Callable[[str, int, int | None], None]


class DownloadError(VaekitError):
    """The server could not be reached or the transfer broke off."""


# Each function below that takes a dataset's name looks its spec up once and hands it to its
# `_for` twin, which takes the spec: a caller that holds the spec already (open_dataset, which
# asked the registry) passes it on instead of having it looked up again at every step.


def search_dirs(name: str) -> list[Path]:
    """Where a registered dataset's files are looked for, in order."""
    return search_dirs_for(get_spec(name))


def search_dirs_for(spec: DatasetSpec) -> list[Path]:
    """search_dirs, given the spec."""
    dirs = []
    if os.environ.get("VAEKIT_DATA"):
        dirs.append(Path(os.environ["VAEKIT_DATA"]) / spec.name)
    dirs.append(cache_dir() / spec.name)
    dirs.extend(Path(d) for d in spec.system_dirs)
    return dirs


def find_in_dir(
    folder: Path, file_names: dict[str, str], optional: frozenset[str] = frozenset()
) -> dict[str, Path] | None:
    """role -> path when every file (but the optional ones) is in `folder`, plain or .gz;
    else None."""
    found = {}
    for role, fname in file_names.items():
        for candidate in (folder / fname, folder / f"{fname}.gz"):
            if candidate.is_file():
                found[role] = candidate
                break
        else:
            if role not in optional:
                return None
    return found


def find_files(name: str) -> dict[str, Path] | None:
    """role -> path of a registered dataset's files on this machine, or None."""
    return find_files_for(get_spec(name))


def find_files_for(spec: DatasetSpec) -> dict[str, Path] | None:
    """find_files, given the spec."""
    if not spec.files and spec.find is None:
        return {}
    for folder in search_dirs_for(spec):
        found = find_spec_files(spec, folder)
        if found is not None:
            return found
    return None


def find_spec_files(spec: DatasetSpec, folder: Path) -> dict[str, Path] | None:
    """role -> path of `spec`'s files in `folder`, or None when they are not all there (a
    dataset without files, built into a package, is never in a folder)."""
    if spec.find is not None:
        return spec.find(folder)
    if not spec.files:
        return None
    names = {f.role: f.name for f in spec.files}
    return find_in_dir(folder, names, frozenset(f.role for f in spec.files if f.optional))


def match_folder(folder: Path) -> tuple[DatasetSpec, dict[str, Path]] | None:
    """The first registered dataset (in the order registered) whose files `folder` holds,
    and its role -> path; None when it holds none's."""
    for spec in registered_specs():
        found = find_spec_files(spec, folder)
        if found is not None:
            return spec, found
    return None


def folder_layouts() -> list[str]:
    """What a dataset folder may hold, one entry per layout, naming the datasets in it."""
    layouts: dict[str, list[str]] = {}
    for spec in registered_specs():
        if spec.find is not None or spec.files:
            layouts.setdefault(spec.layout or _file_list(spec), []).append(spec.name)
    return [f"{layout} ({', '.join(names)})" for layout, names in layouts.items()]


def _file_list(spec: DatasetSpec) -> str:
    files = [f.name for f in spec.files if not f.optional]
    extra = [f.name for f in spec.files if f.optional]
    return ", ".join(files) + (f" [+ {', '.join(extra)}]" if extra else "")


def locate_files(name: str) -> dict[str, Path]:
    """Like find_files, but a clear error naming the files and folders when they are missing."""
    return locate_files_for(get_spec(name))


def locate_files_for(spec: DatasetSpec) -> dict[str, Path]:
    """locate_files, given the spec."""
    found = find_files_for(spec)
    if found is None:
        raise VaekitError(_missing_message(spec, "not found"))
    return found


def fetch(name: str, progress: Progress | None = None) -> dict[str, Path]:
    """The dataset's files, downloaded into the cache first where they are missing."""
    return fetch_for(get_spec(name), progress)


def fetch_for(spec: DatasetSpec, progress: Progress | None = None) -> dict[str, Path]:
    """fetch, given the spec."""
    found = find_files_for(spec)
    if found is not None:
        return found
    if spec.manual or not spec.files:
        raise VaekitError(_missing_message(spec, "not found"))
    if os.environ.get("VAEKIT_OFFLINE"):
        raise VaekitError(_missing_message(spec, "not found and VAEKIT_OFFLINE is set"))
    folder = cache_dir() / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".*.part*"):  # left by a download that was killed
        stale.unlink(missing_ok=True)
    for f in spec.files:
        if not f.optional and find_in_dir(folder, {f.role: f.name}) is None:
            try:
                download(f, folder, progress)
            except DownloadError as err:
                why = f"could not be downloaded ({err})"
                raise VaekitError(_missing_message(spec, why)) from None
    return locate_files_for(spec)


def target_path(f: FileSpec, folder: Path) -> Path:
    """Where a download of `f` is stored: its name, plus .gz when the URL serves it gzipped."""
    return folder / (f.name + ".gz" if f.url.endswith(".gz") else f.name)


def download(f: FileSpec, folder: Path, progress: Progress | None = None) -> Path:
    """Stream f.url into folder under a temporary name, verify, then rename."""
    dest = target_path(f, folder)
    tmp = folder / f".{dest.name}.{os.getpid()}.part{'.gz' if dest.suffix == '.gz' else ''}"
    try:
        try:
            with urllib.request.urlopen(f.url, timeout=60) as response, tmp.open("wb") as out:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                done = 0
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(dest.name, done, total)
        except (urllib.error.URLError, HTTPException, OSError, ValueError) as err:
            raise DownloadError(f"{f.url}: {getattr(err, 'reason', None) or err}") from None
        if total is not None and done != total:
            raise VaekitError(
                f"download of {f.url} was cut short ({done} of {total} bytes); nothing was saved"
            )
        digest = None
        if f.sha256 is not None:
            digest = content_sha256(tmp)
            if digest != f.sha256:
                raise VaekitError(
                    f"download of {f.url} failed its checksum (sha256 {digest[:16]}..., expected "
                    f"{f.sha256[:16]}...); nothing was saved"
                )
        elif f.md5 is not None:
            digest = file_md5(tmp)
            if digest != f.md5:
                raise VaekitError(
                    f"download of {f.url} failed its checksum (md5 {digest}, expected {f.md5}); "
                    "nothing was saved"
                )
        os.replace(tmp, dest)
        if digest is not None:  # checked just now: loading need not hash it again
            remember_digest(dest, "sha256" if f.sha256 is not None else "md5", digest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def verify_files(spec: DatasetSpec, paths: dict[str, Path]) -> None:
    """Check each located file that has a published checksum (the SHA-256 of its content,
    else the MD5 of the file) against it; a one-line error names the file and the remedy."""
    for f in spec.files:
        path = paths.get(f.role)
        if path is None or (f.sha256 is None and f.md5 is None):
            continue
        algorithm, expected = ("sha256", f.sha256) if f.sha256 else ("md5", f.md5)
        digest = cached_digest(path, algorithm)
        if digest != expected:
            source = f"download it again from {f.url}" if f.url else "replace it"
            raise VaekitError(
                f"{path}: checksum mismatch ({algorithm} {digest[:16]}..., expected "
                f"{expected[:16]}...): the file is corrupt or not the right one; delete it and "
                f"run `vaekit data fetch {spec.name}` or {source}"
            )


def _missing_message(spec: DatasetSpec, why: str) -> str:
    if spec.manual:
        return (
            f"dataset {spec.name!r} {why}: {spec.manual}; put it in {cache_dir() / spec.name} "
            f"or $VAEKIT_DATA/{spec.name}/, or give the folder as --data PATH"
        )
    files = "; ".join(f"{f.name} from {f.url}" if f.url else f.name for f in spec.files)
    looked = ", ".join(str(d) for d in search_dirs_for(spec))
    hint = ""
    if "/usr/share/datasets/fashion-mnist" in spec.system_dirs:
        hint = " (on Debian: apt-get install dataset-fashion-mnist)"
    return (
        f"dataset {spec.name!r} {why}: put its files ({files}) in {cache_dir() / spec.name}"
        f"{hint}; looked in {looked}"
    )
