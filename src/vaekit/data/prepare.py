"""Prepare an image dataset once: decode every file into one uint8 array on disk, memory-mapped
when used, so that training reads batches from it without holding it in memory.

A prepared dataset is a folder in the cache, <cache>/prepared/<name>-<fingerprint>/, holding
images.u8 (N x C x H x W bytes), labels.npy and split.npy where there are any, and
header.json (shape, classes, value range and pixel kind, the source and its fingerprint,
skipped files). It is built
under a temporary name, header.json written last, then renamed: an interrupted prepare never
leaves a folder that looks complete. The fingerprint covers the source files' names, sizes
and modification times and the decoding options, so a changed source is prepared anew; the
header's content_sha256 (the decoded images, labels, split and class names) is the data's
checksum that a run records, the same for a copy of the folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import math
import multiprocessing
import os
import shutil
import signal
import sys
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.data.batches import PIXEL_KINDS
from vaekit.data.fetch import cache_dir
from vaekit.data.folders import Decode, decode_image
from vaekit.data.npyfile import read_npy
from vaekit.errors import VaekitError
from vaekit.files import write_json

FORMAT = 1
Progress = Callable[[int, int], None]  # (images done, images in all)


def fingerprint(
    root: Path,
    files: Sequence[Path],
    decode: Decode,
    labels: np.ndarray | None = None,
    split: np.ndarray | None = None,
) -> str:
    """A hash of everything a prepared dataset depends on: the format, the decoding, each
    file's name, size and modification time, the labels and the split."""
    h = hashlib.sha256(json.dumps([FORMAT, asdict(decode)], sort_keys=True).encode())
    try:
        for path in files:
            st = path.stat()
            h.update(f"{path.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    except OSError as err:
        raise VaekitError(f"cannot read {err.filename}: {err.strerror}") from None
    for extra in (labels, split):
        h.update(b"-" if extra is None else np.ascontiguousarray(extra, np.int64).tobytes())
    return h.hexdigest()


def prepared_path(name: str, fp: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[-60:]
    return cache_dir() / "prepared" / f"{safe}-{fp[:16]}"


def is_prepared(folder: Path, fp: str | None = None) -> bool:
    """Whether `folder` is a complete prepared dataset (with fingerprint `fp`, if given)."""
    header = _read_header(folder)
    return header is not None and (fp is None or header.get("fingerprint") == fp)


def _read_header(folder: Path) -> dict[str, Any] | None:
    """header.json as a dict, or None where there is none (or it is not a JSON object)."""
    try:
        header = json.loads((folder / "header.json").read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    return header if isinstance(header, dict) else None


def _temporary(out: Path) -> Path:
    """A private build folder beside `out`, after removing those of processes now dead (of
    any prepared folder there: a killed prepare of other options, whose folder no later one
    builds, left gigabytes behind)."""
    for stale in out.parent.glob(".*.tmp-*") if out.parent.is_dir() else ():
        try:
            os.kill(int(stale.name.rsplit("-", 1)[1]), 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(stale, ignore_errors=True)  # left by a prepare that was killed
        except PermissionError:
            pass  # alive, another user's
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def _publish(tmp: Path, out: Path) -> None:
    try:
        tmp.rename(out)
    except OSError:  # prepared meanwhile by another process: use theirs
        if not is_prepared(out):
            raise


def _decode_indexed(job: tuple[int, Path, Decode]) -> tuple[int, np.ndarray | None]:
    i, path, decode = job
    return i, decode_image(path, decode)


def prepare(
    root: Path,
    files: Sequence[Path],
    labels: np.ndarray | None,
    split: np.ndarray | None,
    decode: Decode,
    out: Path,
    fp: str,
    classes: Sequence[str] = (),
    progress: Progress | None = None,
) -> Path:
    """Decode `files` (on all cores) into the prepared dataset `out`; return `out`.

    Args:
        decode: settled (folders.settle): a definite color, and a size or a common size.
        labels: (N,) int64 per file, or None. split: (N,) uint8 0/1/2 (train/val/test) or None.
    """
    if is_prepared(out, fp):
        return out
    shape = _first_shape(files, decode)
    shutil.rmtree(out, ignore_errors=True)  # an older preparation under the same name
    tmp = _temporary(out)
    try:
        kept = _decode_all(files, decode, shape, tmp / "images.u8", progress)
        skipped = sorted(set(range(len(files))) - set(kept))
        for i in skipped[:20]:
            warnings.warn(f"skipped {files[i]}: not a readable image", stacklevel=2)
        if len(skipped) > 20:
            warnings.warn(f"skipped {len(skipped) - 20} more unreadable images", stacklevel=2)
        if not kept:
            raise VaekitError(f"{root}: none of the {len(files)} images could be decoded")
        keep = np.array(kept)
        kept_labels = labels[keep] if labels is not None else None
        kept_split = split[keep] if split is not None else None
        if kept_labels is not None:
            np.save(tmp / "labels.npy", kept_labels)
        if kept_split is not None:
            np.save(tmp / "split.npy", kept_split)
        header = {
            "format": FORMAT,
            "shape": [len(kept), *shape],
            "labels": labels is not None,
            "classes": list(classes),
            "split": split is not None,
            "source": str(root),
            "fingerprint": fp,
            # what a run records as its data's checksum: the decoded images, labels, split
            # and class names, so that a copy of the folder (new times) is the same data
            "content_sha256": _content_hash(tmp / "images.u8", kept_labels, kept_split, classes),
            "max_value": 255,
            "pixels": "8-bit",
            "decode": asdict(decode),
            "skipped": [str(files[i]) for i in skipped],
        }
        write_json(tmp / "header.json", header)
        _publish(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _content_hash(
    images: Path, labels: np.ndarray | None, split: np.ndarray | None, classes: Sequence[str]
) -> str:
    """SHA-256 of a prepared dataset's content: its image bytes (streamed), labels, split and
    class names."""
    h = hashlib.sha256(json.dumps(list(classes)).encode())
    for extra in (labels, split):
        h.update(b"-" if extra is None else np.ascontiguousarray(extra, np.int64).tobytes())
    with images.open("rb") as f:
        while chunk := f.read(1 << 24):
            h.update(chunk)
    return h.hexdigest()


def content_checksum(
    folder: Path, header: dict[str, Any], labels: np.ndarray | None, split: np.ndarray | None
) -> str:
    """A prepared dataset's content_sha256; one prepared before it was recorded gets it now,
    written into its header.json where the cache can be written (else just returned)."""
    found = header.get("content_sha256")
    if found:
        return found
    found = _content_hash(folder / "images.u8", labels, split, header["classes"])
    with contextlib.suppress(OSError):
        write_json(folder / "header.json", {**header, "content_sha256": found})
    return found


def _first_shape(files: Sequence[Path], decode: Decode) -> tuple[int, ...]:
    for path in files:
        pixels = decode_image(path, decode)
        if pixels is not None:
            return pixels.shape
    raise VaekitError(f"none of the {len(files)} images could be decoded")


def _decode_all(
    files: Sequence[Path],
    decode: Decode,
    shape: tuple[int, ...],
    target: Path,
    progress: Progress | None,
) -> list[int]:
    """Decode into a file-backed array in order; returns the indices of the decoded files."""
    array = np.memmap(target, dtype=np.uint8, mode="w+", shape=(len(files), *shape))
    kept: list[int] = []
    jobs = [(i, path, decode) for i, path in enumerate(files)]
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    pool = None
    if len(files) < 64 or workers == 1:
        results = map(_decode_indexed, jobs)
    else:
        # fork is quick and safe on Linux; elsewhere the platform's default start method.
        method = "fork" if sys.platform.startswith("linux") else None
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method),
                                   initializer=_die_with, initargs=(os.getpid(),))  # fmt: skip
        results = pool.map(_decode_indexed, jobs, chunksize=32)  # a dead worker raises
    try:
        for done, (i, pixels) in enumerate(results, 1):
            if pixels is not None and pixels.shape == tuple(shape):
                array[len(kept)] = pixels
                kept.append(i)
            if progress and (done % 256 == 0 or done == len(files)):
                progress(done, len(files))
    except BrokenProcessPool:
        raise VaekitError(
            "an image decoder process died (out of memory?); nothing was kept"
        ) from None
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    array.flush()
    del array
    os.truncate(target, len(kept) * int(np.prod(shape)))
    return kept


def _die_with(parent: int) -> None:
    """A decoder worker ends when the process that started it does: a `data prepare` killed
    (SIGKILL, or SIGTERM where no handler runs) left its workers asleep for good, holding
    its output pipes. Linux's parent-death signal; elsewhere, a parent already gone."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # (gone before the line above)
        os._exit(1)


def open_prepared(
    folder: Path,
) -> tuple[torch.Tensor, np.ndarray | None, np.ndarray | None, dict[str, Any]]:
    """(images memory-mapped (N, C, H, W) uint8, labels, split, header) of a prepared dataset.

    Everything is checked against header.json before it is mapped or read: the image file's
    size against the shape, the labels (integers >= 0) and the split (0, 1 or 2) against N.
    """
    header = _read_header(folder)
    try:
        if header is None:
            raise ValueError("header.json is missing or not a JSON object")
        shape = _check_header(header)
        path = folder / "images.u8"
        size = path.stat().st_size
        if size != math.prod(shape):
            raise ValueError(f"images.u8 holds {size} bytes, the shape {shape} needs more")
        images = np.memmap(path, dtype=np.uint8, mode="c", shape=shape)
        labels = _column(folder / "labels.npy", shape[0], 0, None) if header["labels"] else None
        split = _column(folder / "split.npy", shape[0], 0, 2) if header["split"] else None
    except (OSError, ValueError, VaekitError) as err:
        raise VaekitError(
            f"{folder}: a broken prepared dataset ({err}); delete it and retry"
        ) from None
    return torch.from_numpy(images), labels, split, header


# header.json's keys and the types of their values.
_HEADER_TYPES = {
    "format": int,
    "shape": list,
    "labels": bool,
    "split": bool,
    "fingerprint": str,
    "skipped": list,
    "classes": list,
}


def _check_header(header: dict[str, Any]) -> tuple[int, int, int, int]:
    """The images' shape (N, C, H, W) that header.json records; ValueError where it is not
    one vaekit writes."""
    for key, kind in _HEADER_TYPES.items():
        if not isinstance(header.get(key), kind):
            raise ValueError(f"header.json: {key!r} missing or not a {kind.__name__}")
    if not isinstance(header.get("content_sha256", ""), str):
        raise ValueError("header.json: 'content_sha256' is not a string")
    if header["format"] != FORMAT:
        raise ValueError(f"header.json: format {header['format']}, this vaekit reads {FORMAT}")
    shape = header["shape"]
    if len(shape) != 4 or not all(type(d) is int and d > 0 for d in shape) or shape[1] > 3:
        raise ValueError(f"header.json: shape {shape} is not (N, C, H, W) of positive sizes")
    if not all(isinstance(c, str) for c in header["classes"]):
        raise ValueError("header.json: classes are not names")
    top = header.get("max_value", 255)
    if type(top) not in (int, float) or not 0 < top <= 255:
        raise ValueError(f"header.json: max_value {top!r} is not in (0, 255]")
    if header.get("pixels") not in (None, *PIXEL_KINDS):
        raise ValueError(f"header.json: unknown pixels {header['pixels']!r}")
    return tuple(shape)  # type: ignore[return-value]


def _column(path: Path, n: int, least: int, most: int | None) -> np.ndarray:
    """One integer per image from a .npy file, each in [least, most]."""
    values = read_npy(path)
    if values.shape != (n,) or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{path.name} holds {values.dtype} {values.shape}, not {n} integers")
    if n and (values.min() < least or (most is not None and values.max() > most)):
        raise ValueError(f"{path.name} holds values outside {least}..{most or 'max'}")
    return values


def prepare_from_sets(
    splits: dict[str, Any], out: Path, fp: str, source: str, classes: Sequence[str] = ()
) -> Path:
    """Write in-memory uint8 splits ({"train": ImageSet, "val": ..., "test": ...}) as a
    prepared dataset `out` (the same layout, built and renamed the same way)."""
    if is_prepared(out, fp):
        return out
    sets = [
        (code, splits[name])
        for code, name in enumerate(("train", "val", "test"))
        if splits.get(name)
    ]
    if any(s.dtype != torch.uint8 for _, s in sets):
        raise VaekitError("only uint8 images can be prepared (these are floats)")
    shape = sets[0][1].shape
    total = sum(len(s) for _, s in sets)
    has_labels = all(s.labels is not None for _, s in sets)
    shutil.rmtree(out, ignore_errors=True)
    tmp = _temporary(out)
    try:
        array = np.memmap(tmp / "images.u8", dtype=np.uint8, mode="w+", shape=(total, *shape))
        row = 0
        for _, s in sets:
            for chunk in s.chunks():
                array[row : row + len(chunk)] = chunk.cpu().numpy()
                row += len(chunk)
        array.flush()
        del array
        if has_labels:
            np.save(tmp / "labels.npy", np.concatenate([s.labels.numpy() for _, s in sets]))
        np.save(tmp / "split.npy", np.concatenate([np.full(len(s), c, np.uint8) for c, s in sets]))
        header = {
            "format": FORMAT,
            "shape": [total, *shape],
            "labels": has_labels,
            "classes": list(classes),
            "split": True,
            "source": source,
            "fingerprint": fp,
            "max_value": sets[0][1].max_value,
            "pixels": sets[0][1].pixels,
            "decode": None,
            "skipped": [],
        }
        write_json(tmp / "header.json", header)
        _publish(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
