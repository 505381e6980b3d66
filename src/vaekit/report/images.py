"""Image grids as PNG files, PNG bytes and data: URIs."""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vaekit.files import atomic_write
from vaekit.report.limits import MAX_GRID_IMAGES


def image_grid(images: torch.Tensor, ncols: int | None = None, pad: int = 2) -> Image.Image:
    """Tile images (N, C, H, W) in [0, 1] into one picture, ncols per row (default square).

    Small images are enlarged (nearest neighbour) so that a cell is at least 56 pixels high.
    """
    n, c, h, w = images.shape
    if n > MAX_GRID_IMAGES:
        raise ValueError(f"{n} images: a grid holds at most {MAX_GRID_IMAGES}")
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    zoom = max(1, math.ceil(56 / h))
    pixels = (images.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    pixels = pixels.repeat_interleave(zoom, 2).repeat_interleave(zoom, 3)
    h, w = h * zoom, w * zoom
    grid = np.full((c, nrows * (h + pad) + pad, ncols * (w + pad) + pad), 255, np.uint8)
    for i in range(n):
        r, col = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, top : top + h, left : left + w] = pixels[i].numpy()
    mode = "L" if c == 1 else "RGB"
    return Image.fromarray(grid[0] if c == 1 else grid.transpose(1, 2, 0), mode)


def save_grid(images: torch.Tensor, path: str | Path, ncols: int | None = None) -> None:
    picture = image_grid(images, ncols)
    atomic_write(path, lambda p: picture.save(p, format="PNG"))


def png_bytes(images: torch.Tensor, ncols: int | None = None, pad: int = 2) -> bytes:
    """Images (N, C, H, W) in [0, 1] tiled as by `image_grid`, encoded as PNG."""
    buffer = io.BytesIO()
    image_grid(images, ncols, pad).save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    """PNG bytes as a data: URI, to embed in a page that needs no other file."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def pairs_grid(*parts: torch.Tensor, ncols: int = 8) -> torch.Tensor:
    """Interleave rows of aligned image sets: ncols of the first (inputs, say), the same ncols
    of the second (their outputs) below them, and so on; then the next ncols. A last, short
    row is filled out with blank (white) cells, so that each set keeps a row of its own in a
    grid of ncols columns (3 inputs and their 3 outputs are two rows, not one of six)."""
    rows = []
    for start in range(0, len(parts[0]), ncols):
        for part in parts:
            row = part[start : start + ncols]
            if len(row) < ncols:
                row = torch.cat([row, row.new_ones((ncols - len(row), *row.shape[1:]))])
            rows.append(row)
    return torch.cat(rows)
