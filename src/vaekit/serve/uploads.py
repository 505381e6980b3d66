"""Uploaded files, checked and decoded in memory: nothing a client sends is written to disk.

Each refusal is an `UploadError` with the HTTP status it answers with and a message that says
what was wrong: 400 for a bad name, 413 for too many bytes or pixels, 415 for a file that is
not an image, 422 for an image the model cannot take.
"""

from __future__ import annotations

import io
import unicodedata

import torch

from vaekit.data.batches import scale
from vaekit.data.folders import Decode, decode_bytes, image_too_large

MAX_NAME = 255


class UploadError(Exception):
    """A refused upload: `status` (4xx) and a message for the person who sent it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def check_name(name: str | None) -> str:
    """The upload's file name as given, if it is a plain name: no folders, no '..', no
    control characters, at most 255 characters. None or empty: "upload"."""
    if not name:
        return "upload"
    if len(name) > MAX_NAME:
        raise UploadError(400, f"the file name is longer than {MAX_NAME} characters")
    if any(unicodedata.category(c)[0] == "C" for c in name):
        raise UploadError(400, "the file name holds control characters")
    if "/" in name or "\\" in name or name in (".", ".."):  # ("..dots.png" is a name)
        raise UploadError(400, f"{name!r} is a path: send a plain file name, without folders")
    return name


def decode_upload(body: bytes, shape: tuple[int, int, int], name: str = "upload") -> torch.Tensor:
    """An uploaded image file's bytes -> (1, C, H, W) float in [0, 1] for a model of `shape`
    (C, H, W): converted to its channels; centre-cropped and resized to a square model's size
    (a non-square model needs the exact size)."""
    from PIL import Image, UnidentifiedImageError

    if not body:
        raise UploadError(400, f"{name}: the file is empty")
    c, h, w = shape
    too_large = image_too_large(body)  # from the header, before PIL's bound can refuse it
    if too_large:
        raise UploadError(413, f"{name}: {too_large}")
    try:
        with Image.open(io.BytesIO(body)):
            pass
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):  # (a damaged PNG chunk)
        raise UploadError(
            415, f"{name}: not an image file vaekit can read (PNG, JPEG, GIF, BMP, WebP, TIFF)"
        ) from None
    square = h == w
    decode = Decode(h if square else None, "gray" if c == 1 else "rgb", 0 if square else None)
    pixels = decode_bytes(body, decode)
    if pixels is None:
        raise UploadError(415, f"{name}: the image is damaged and cannot be decoded")
    if tuple(pixels.shape) != (c, h, w):
        raise UploadError(
            422,
            f"{name}: an image of {pixels.shape[2]} x {pixels.shape[1]} pixels; this model "
            f"takes {w} x {h}",
        )
    return scale(torch.from_numpy(pixels)[None], 255)
