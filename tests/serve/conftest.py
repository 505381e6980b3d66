"""A small trained run, loaded once per session into an Explorer, for the server's tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import write_npz


@pytest.fixture(scope="session")
def served_run(tmp_path_factory) -> Path:
    """A 3-D latent space (so the map is a PCA plane) on 16x16 images of a bright quarter."""
    import vaekit

    folder = tmp_path_factory.mktemp("served")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VAEKIT_CACHE", str(folder / "cache"))
        mp.setenv("VAEKIT_OFFLINE", "1")
        data = write_npz(folder / "quarters.npz", n=400, size=16)
        vaekit.train(
            data,
            model="mlp",
            hidden_dims=(32,),
            latent_dim=3,
            epochs=4,
            batch_size=16,
            out=folder / "run",
            progress=False,
            report=False,
        )
    return folder / "run"


@pytest.fixture(scope="session")
def explorer(served_run: Path):
    from vaekit.api.model import load
    from vaekit.serve.explorer import Explorer

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VAEKIT_CACHE", str(served_run.parent / "cache"))
        return Explorer(load(served_run), served_run)


def png_of(pixels: np.ndarray) -> bytes:
    """A PNG file's bytes for a uint8 array (H, W) or (H, W, 3)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def quarter_png(corner: int = 0, size: int = 16) -> bytes:
    """A gray image like the training data: its top-left (0) ... bottom-right (3) quarter lit."""
    pixels = np.full((size, size), 30, np.uint8)
    r, c = divmod(corner, 2)
    half = size // 2
    pixels[r * half : (r + 1) * half, c * half : (c + 1) * half] = 220
    return png_of(pixels)
