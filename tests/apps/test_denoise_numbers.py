"""The numbers `vaekit denoise` writes to denoise.json, checked against PSNRs worked out by
hand on images whose noise is certain."""

import json
import math

import numpy as np
import pytest

import vaekit
from tests.cli.test_cli import vaekit as cli
from tests.conftest import write_npz


def test_denoise_json_reports_each_images_own_noisy_psnr(tmp_path):
    """psnr_noisy was the denoised images' PSNR (only the means were checked): each image's
    noisy PSNR must be that of its noisy copy against its clean one."""
    run = vaekit.train(str(write_npz(tmp_path / "d.npz", n=100, size=8)), out=tmp_path / "run",
                       model="mlp", hidden_dims=(16,), latent_dim=2, epochs=1,
                       progress=False, report=False)  # fmt: skip
    # Four flat 8x8 images at 51, 102, 204 and 255 (0.2, 0.4, 0.8 and 1.0). mask:1.0 blanks
    # every pixel (a uniform draw in [0, 1) is always < 1), so each noisy image is all 0 and
    # its MSE is its value squared: PSNR 10 log10(1 / v^2) = -20 log10(v), that is
    # 13.9794, 7.9588, 1.9382 and 0 dB.
    values = [51, 102, 204, 255]
    np.save(tmp_path / "flat.npy", np.stack([np.full((8, 8), v, np.uint8) for v in values]))
    out = tmp_path / "dn"
    assert cli("denoise", run.path, tmp_path / "flat.npy", "--add-noise", "mask:1.0",
               "-o", out) == 0  # fmt: skip
    report = json.loads((out / "denoise.json").read_text())
    expected = [13.9794, 7.9588, 1.9382, 0.0]
    assert report["psnr_noisy"] == pytest.approx(expected, abs=1e-3)
    assert report["mean_psnr_noisy"] == pytest.approx(sum(expected) / 4, abs=1e-3)
    # The denoised images' PSNR, from the saved images against the clean ones.
    denoised = np.load(out / "denoised.npy").astype(np.float64)
    for i, v in enumerate(values):
        mse = float(((denoised[i] - v / 255) ** 2).mean())
        assert report["psnr_denoised"][i] == pytest.approx(10 * math.log10(1 / mse), abs=1e-3)
