"""Folders of image files (PNG, JPEG): listing, labels from subfolders, decoding.

A folder whose images all sit in subfolders is labelled by subfolder (sorted names are the
classes); otherwise every image under it, at any depth, is unlabelled. Each image is decoded
to grayscale or RGB; with an image size it is centre-cropped to a square and resized to
size x size (Lanczos), without one all images must share a size. An image that cannot be
decoded is skipped with a warning naming it.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaekit.errors import VaekitError
from vaekit.files import files_under
from vaekit.kinds.image.options import MAX_IMAGE_SIZE

SUFFIXES = {".png", ".jpg", ".jpeg"}
# An image file larger than this is not decoded (PIL refuses images above ~179M pixels anyway).
MAX_FILE_BYTES = 1 << 30
# The most pixels of one image handed to a model (a command's input file, a served upload):
# 5000 x 5000. Folders are not held to it: their images are resized as they are decoded.
MAX_PIXELS = 25_000_000
COLORS = ("auto", "gray", "rgb")
CROPS = ("center", "none")


@dataclass(frozen=True)
class Decode:
    """How to turn a file into pixels: size (None: keep the file's size), color ("auto",
    "gray", "rgb"), centre crop (the side of the centre square to keep; 0: the largest
    square; None: no crop)."""

    size: int | None
    color: str
    crop: int | None = None

    @staticmethod
    def for_folder(size: int | None, color: str, crop: str = "center") -> Decode:
        """Folders: with a size, the largest centre square resized to it (crop "center") or
        the whole image squeezed to it (crop "none"); without one, as they are."""
        if crop not in CROPS:
            raise VaekitError(f"unknown crop {crop!r}: choose from {', '.join(CROPS)}")
        if size is not None and not 1 <= size <= MAX_IMAGE_SIZE:
            raise VaekitError(f"--image-size must be 1 to {MAX_IMAGE_SIZE}, got {size}")
        return Decode(size, color, 0 if size is not None and crop == "center" else None)


def list_images(folder: Path) -> tuple[list[Path], np.ndarray | None, list[str]]:
    """(image paths, labels or None, class names) of a folder, in a stable order."""
    files = sorted(p for p in files_under(folder) if p.suffix.lower() in SUFFIXES and p.is_file())
    if not files:
        raise VaekitError(f"{folder}: no images (looked for {', '.join(sorted(SUFFIXES))})")
    if all(p.parent != folder and p.parent.parent == folder for p in files):
        classes = sorted({p.parent.name for p in files})
        index = {name: i for i, name in enumerate(classes)}
        return files, np.array([index[p.parent.name] for p in files], dtype=np.int64), classes
    deeper = [p for p in files if p.parent != folder and p.parent.parent != folder]
    if deeper and all(p.parent != folder for p in files):  # subfolders of subfolders
        warnings.warn(f"{folder}: {len(deeper)} images lie deeper than one subfolder (such as "
                      f"{deeper[0].relative_to(folder)}): class subfolders label images that "
                      "sit directly in them, so the folder is read without labels",
                      stacklevel=2)  # fmt: skip
    return files, None, []


def settle(files: Sequence[Path], decode: Decode) -> Decode:
    """Settle "auto" color (rgb if any image has color), and without a size check that all
    images share one (reading headers only: about 30 us an image)."""
    from PIL import Image, UnidentifiedImageError

    color, sizes = decode.color, {}
    for path in files:
        if decode.size is not None and color != "auto":
            break
        try:
            with Image.open(path) as im:
                if decode.size is None:
                    sizes.setdefault(im.size, path)
                if color == "auto" and im.mode not in ("1", "L", "LA", "I", "I;16"):
                    color = "rgb"
        except (
            OSError,
            UnidentifiedImageError,
            ValueError,
            SyntaxError,
            Image.DecompressionBombError,
        ):
            continue  # reported when decoding
        if len(sizes) > 1:
            (a, pa), (b, pb) = list(sizes.items())[:2]
            raise VaekitError(
                f"images of several sizes ({pa.name}: {a[0]}x{a[1]}, {pb.name}: {b[0]}x{b[1]}): "
                "give --image-size to crop and resize them all"
            )
    return Decode(decode.size, "gray" if color == "auto" else color, decode.crop)


def image_too_large(data: bytes, limit: int = MAX_PIXELS) -> str | None:
    """Why an image file's bytes hold more than `limit` pixels, read from its header alone
    (nothing is decoded), or None: also for bytes that are no image, which decoding reports.
    Past PIL's own bound (about 179M pixels) PIL gives no size, only that it is past it."""
    from PIL import Image, UnidentifiedImageError

    side = math.isqrt(limit)
    at_most = f"at most {side} x {side}" if side * side == limit else f"at most {limit:,}"
    try:
        with warnings.catch_warnings():  # PIL's warning between its two bounds: ours is lower
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
    except Image.DecompressionBombError:
        bound = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        return f"too large: more than {bound:,} pixels ({at_most})"
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return None
    if width * height > limit:
        return f"{width} x {height} pixels is too large ({at_most})"
    return None


def decode_image(path: Path, decode: Decode, max_pixels: int | None = None) -> np.ndarray | None:
    """(C, S, S) uint8 pixels of one file, or None when it cannot be decoded. With
    `max_pixels`, a larger image is a VaekitError saying so, decoded no further."""
    try:
        # Decoded from memory: a damaged chunk length then cannot size a read (PIL reads an
        # IDAT chunk whole, up to 2 GB) beyond the file's real bytes.
        with path.open("rb") as f:
            if os.fstat(f.fileno()).st_size > MAX_FILE_BYTES:
                return None
            data = f.read()
    except OSError:
        return None
    too_large = image_too_large(data, max_pixels) if max_pixels is not None else None
    if too_large:
        raise VaekitError(f"{path}: {too_large}")
    return decode_bytes(data, decode)


def decode_bytes(data: bytes, decode: Decode) -> np.ndarray | None:
    """(C, S, S) uint8 pixels of an image file's bytes, or None when they cannot be decoded."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            im = ImageOps.exif_transpose(im)  # phone photos store their rotation in EXIF
            if im.mode in ("I", "I;16", "I;16B", "I;16L"):  # 16-bit gray: keep the top byte
                wide = np.asarray(im)  # uint16, or int32 for "I" (clipped in its own type)
                wide = wide if wide.dtype.kind == "u" else wide.clip(0, 65535)
                im = Image.fromarray((wide // 257).astype(np.uint8), "L")
            im = im.convert("L" if decode.color == "gray" else "RGB")
            if decode.crop is not None:
                w, h = im.size
                side = min(w, h) if decode.crop == 0 else min(decode.crop, w, h)
                left, top = (w - side) // 2, (h - side) // 2
                im = im.crop((left, top, left + side, top + side))
            if decode.size is not None and im.size != (decode.size, decode.size):
                im = im.resize((decode.size, decode.size), Image.Resampling.LANCZOS)
            pixels = np.array(im, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
