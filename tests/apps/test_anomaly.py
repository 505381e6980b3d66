"""Anomaly detection on a planted case: a VAE trained on one kind of image flags the others."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from tests.cli.test_cli import vaekit as cli
from vaekit.api.anomaly import AnomalyDetector, detection_quality
from vaekit.apps.anomaly import png_nats
from vaekit.errors import VaekitError


def _squares(n: int, corner: int, seed: int) -> np.ndarray:
    """Dim noise with a bright square in one corner (0..3) of 8x8 images."""
    rng = np.random.default_rng(seed)
    images = (rng.random((n, 8, 8)) * 40).astype(np.uint8)
    r, c = divmod(corner, 2)
    images[:, r * 4 : r * 4 + 4, c * 4 : c * 4 + 4] = 220
    return images


@pytest.fixture(scope="module")
def normal_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("anomaly")
    np.save(root / "normal.npy", _squares(400, 0, 0))
    return vaekit.train(str(root / "normal.npy"), out=root / "run", model="mlp", hidden_dims=(32,),
                        latent_dim=2, epochs=15, lr=3e-3, progress=False)  # fmt: skip


@pytest.mark.parametrize("score", ["elbo", "nll", "complexity", "latent", "recon"])
def test_planted_anomalies_are_found(normal_run, score):
    detector = AnomalyDetector(normal_run.model, score, iw_samples=20).fit()
    normal = _squares(50, 0, 1)
    odd = np.concatenate([_squares(25, 3, 2), _squares(25, 1, 3)])
    x = torch.from_numpy(np.concatenate([normal, odd])[:, None]).float() / 255
    scores = detector.decision_function(x)
    truth = np.array([0] * 50 + [1] * 50)
    quality = detection_quality(scores, truth)
    if score != "latent":  # a 2-D latent space may map a new corner near the old one
        assert quality["auroc"] > 0.95, quality
    flags = detector.predict(x)
    assert flags.dtype == np.int64 and set(flags.tolist()) <= {0, 1}
    assert (flags == (scores > detector.threshold_)).all()


def test_threshold_is_the_calibration_quantile(normal_run, tmp_path: Path):
    detector = AnomalyDetector(normal_run.model, "recon", contamination=0.1).fit()
    assert detector.quantile == pytest.approx(0.9) and detector.calibration["split"] == "val"
    val = detector.calibration["examples"]
    assert val == 36  # 400 images - 40 test = 360, 10% of them validate
    path = detector.save(tmp_path)
    again = AnomalyDetector.load(normal_run.model, tmp_path)
    assert again.threshold_ == detector.threshold_ and again.score == "recon"
    assert json.loads(path.read_text())["calibration"]["examples"] == 36
    with pytest.raises(VaekitError, match="not both"):
        AnomalyDetector(normal_run.model, quantile=0.9, contamination=0.1)
    with pytest.raises(VaekitError, match="not fitted"):
        AnomalyDetector(normal_run.model).predict(torch.zeros(1, 1, 8, 8))


def test_png_complexity_orders_simple_before_busy():
    flat = torch.zeros(1, 1, 16, 16)
    busy = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    assert float(png_nats(flat)[0]) < float(png_nats(busy)[0])


def test_anomaly_command(normal_run, tmp_path: Path, capsys):
    np.save(tmp_path / "odd.npy", _squares(3, 3, 5))
    out = tmp_path / "s.csv"
    assert cli("anomaly", normal_run.path, str(tmp_path / "odd.npy"), "0", "-o", out,
               "--score", "recon", "--top", "4") == 0  # fmt: skip
    lines = out.read_text().splitlines()
    assert lines[0] == "index,score,anomalous" and len(lines) == 5
    flags = [int(line.split(",")[2]) for line in lines[1:]]
    assert flags[:3] == [1, 1, 1]
    assert (tmp_path / "s_errors.png").exists()
    saved = json.loads((normal_run.path / "anomaly.json").read_text())
    assert saved["score"] == "recon" and saved["quantile"] == 0.99
    assert cli("anomaly", normal_run.path, "-o", out, "--normal-labels", "0") == 1
    assert "needs labelled inputs" in capsys.readouterr().err
