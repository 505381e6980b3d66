"""Anomaly detection on a planted case: a VAE trained on one kind of image flags the others."""

import hashlib
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from tests.cli.test_cli import vaekit as cli
from vaekit.api.anomaly import AnomalyDetector, detection_quality, load_or_fit
from vaekit.apps.anomaly import NEIGHBOURS, Neighbours, fit_gaussian, moment_features, png_nats
from vaekit.errors import VaekitError
from vaekit.models.io import load_model, save_weights


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


@pytest.mark.parametrize("score", ["elbo", "nll", "complexity", "latent", "recon", "knn"])
def test_planted_anomalies_are_found(normal_run, score):
    detector = AnomalyDetector(normal_run.model, score, iw_samples=20).fit()
    normal = _squares(50, 0, 1)
    odd = np.concatenate([_squares(25, 3, 2), _squares(25, 1, 3)])
    x = torch.from_numpy(np.concatenate([normal, odd])[:, None]).float() / 255
    scores = detector.decision_function(x)
    truth = np.array([0] * 50 + [1] * 50)
    quality = detection_quality(scores, truth)
    # The latent score sees only a 2-D posterior mean, where a new corner can land near the
    # old one: over training seeds 0-11 its AUROC here ranged 0.936-1.0 (0.967 at this seed),
    # the elbo and recon scores 1.0 at each. A latent score that ignored its input: near 0.5.
    assert quality["auroc"] > (0.9 if score == "latent" else 0.95), quality
    flags = detector.predict(x)
    assert flags.dtype == np.int64 and set(flags.tolist()) <= {0, 1}
    assert (flags == (scores > detector.threshold_)).all()


def test_threshold_is_the_calibration_quantile(normal_run, tmp_path: Path):
    detector = AnomalyDetector(normal_run.model, "recon", contamination=0.1).fit()
    assert detector.quantile == pytest.approx(0.9) and detector.calibration["split"] == "val"
    val = detector.calibration["examples"]
    assert val == 36  # 400 images - 40 test = 360, 10% of them validate
    # The threshold is the 0.9 quantile of the validation images' scores, scored here again:
    # 4 of the 36 lie above it (sorted, it falls between the 32nd and the 33rd: 0.9 x 35).
    from vaekit.api.inputs import model_dataset
    from vaekit.api.run import train_config_from
    from vaekit.data.datasets import split_validation

    config = train_config_from(normal_run.model.run_config)
    _, held = split_validation(model_dataset(normal_run.model), config.val_fraction, config.seed)
    scores = detector.decision_function(held)
    assert len(scores) == 36
    assert detector.threshold_ == pytest.approx(float(np.quantile(scores, 0.9)))
    assert int((scores > detector.threshold_).sum()) == 4
    path = detector.save(tmp_path)
    again = AnomalyDetector.load(normal_run.model, tmp_path)
    assert again.threshold_ == detector.threshold_ and again.score == "recon"
    assert json.loads(path.read_text())["calibration"]["examples"] == 36
    with pytest.raises(VaekitError, match="not both"):
        AnomalyDetector(normal_run.model, quantile=0.9, contamination=0.1)
    for name in ("contamination", "quantile"):  # each named as the user gave it
        with pytest.raises(VaekitError, match=rf"^--{name} must be in \(0, 1\), got 0"):
            AnomalyDetector(normal_run.model, **{name: 0.0})
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
    # Each row names its INPUT as given: a file's images by their place in it, an index as is.
    odd = tmp_path / "odd.npy"
    assert lines[0] == "input,score,anomalous" and len(lines) == 5
    assert [line.split(",")[0] for line in lines[1:]] == [f"{odd}[0]", f"{odd}[1]", f"{odd}[2]",
                                                          "0"]  # fmt: skip
    flags = [int(line.split(",")[2]) for line in lines[1:]]
    assert flags[:3] == [1, 1, 1]
    assert (tmp_path / "s_errors.png").exists()
    saved = json.loads((normal_run.path / "anomaly.json").read_text())
    assert saved["score"] == "recon" and saved["quantile"] == 0.99
    assert cli("anomaly", normal_run.path, "-o", out, "--normal-labels", "0", "--overwrite") == 1
    assert "needs labelled inputs" in capsys.readouterr().err


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _change_weights(run: Path) -> None:
    """What resuming or retraining does to a run: other weights in model.safetensors."""
    vae, _, _ = load_model(run)
    with torch.no_grad():
        next(vae.parameters()).add_(0.01)
    save_weights(run, vae)


def test_decision_function_scales_integers_like_model_prepare(normal_run):
    detector = AnomalyDetector(normal_run.model, "recon").fit()
    images = _squares(6, 2, 7)[:, None]
    floats = detector.decision_function(torch.from_numpy(images).float() / 255)
    np.testing.assert_allclose(detector.decision_function(torch.from_numpy(images)), floats)
    np.testing.assert_allclose(detector.decision_function(images), floats)  # numpy uint8
    np.testing.assert_allclose(detector.decision_function(images[:, 0]), floats)  # (B, H, W)
    assert floats.max() < 1  # a mean squared error of pixels in [0, 1], not of 0..255 values
    with pytest.raises(VaekitError, match=r"pixel values must be finite and in \[0, 1\]"):
        detector.decision_function(torch.from_numpy(images).float())


def test_the_threshold_records_its_weights(normal_run, tmp_path: Path):
    run = tmp_path / "run"
    shutil.copytree(normal_run.path, run)
    # A model just trained knows the sha256 of the file it was saved as.
    assert normal_run.model.weights_sha256 == _sha256(run / "model.safetensors")
    model = vaekit.load(run)
    assert model.weights_sha256 == _sha256(run / "model.safetensors")
    AnomalyDetector(model, "recon").fit().save(run)
    saved = json.loads((run / "anomaly.json").read_text())
    assert saved["weights_sha256"] == model.weights_sha256
    assert AnomalyDetector.load(vaekit.load(run), run).threshold_ == saved["threshold"]

    _change_weights(run)
    changed = vaekit.load(run)
    with pytest.raises(VaekitError, match="calibrated on other weights"):
        AnomalyDetector.load(changed, run)
    detector, note = load_or_fit(AnomalyDetector(changed, "recon"), run)
    assert "other weights" in note and detector.weights_sha256 == changed.weights_sha256
    assert json.loads((run / "anomaly.json").read_text())["weights_sha256"] == _sha256(
        run / "model.safetensors"
    )
    # A file from before weights were recorded is never taken for these ones.
    del saved["weights_sha256"]
    (run / "anomaly.json").write_text(json.dumps(saved))
    with pytest.raises(VaekitError, match="calibrated on other weights"):
        AnomalyDetector.load(changed, run)
    _, note = load_or_fit(AnomalyDetector(changed, "recon"), run)
    assert "weights it does not record" in note


def test_anomaly_command_recalibrates_when_settings_or_weights_change(
    normal_run, tmp_path: Path, capsys, monkeypatch
):
    run = tmp_path / "run"
    shutil.copytree(normal_run.path, run, ignore=shutil.ignore_patterns("anomaly.json"))
    fits = []
    real_fit = AnomalyDetector.fit
    monkeypatch.setattr(
        AnomalyDetector, "fit", lambda self, *a: fits.append(1) or real_fit(self, *a)
    )

    def anomaly(*extra: str) -> tuple[dict, str]:
        assert cli("anomaly", run, "0", "1", "-o", tmp_path / "s.csv", "--top", "1",
                   "--score", "nll", "--overwrite", *extra) == 0  # fmt: skip
        return json.loads((run / "anomaly.json").read_text()), capsys.readouterr().out

    first, out = anomaly("--iw-samples", "5")
    assert len(fits) == 1 and "calibrated again" not in out and first["iw_samples"] == 5
    again, out = anomaly("--iw-samples", "5")
    assert len(fits) == 1 and again == first and "calibrated again" not in out  # reused
    other, out = anomaly("--iw-samples", "7")
    assert len(fits) == 2 and other["iw_samples"] == 7
    assert "iw_samples 5 (now 7)" in out and "calibrated again" in out
    _, out = anomaly("--iw-samples", "7", "--seed", "1")
    assert len(fits) == 3 and "seed 0 (now 1)" in out

    _change_weights(run)
    changed, out = anomaly("--iw-samples", "7", "--seed", "1")
    assert len(fits) == 4 and "other weights" in out
    assert (
        changed["weights_sha256"] == _sha256(run / "model.safetensors") != other["weights_sha256"]
    )
    # another score: named, without the setting only nll has ("iw_samples None (now 7)")
    assert cli("anomaly", run, "0", "1", "-o", tmp_path / "e.csv", "--top", "1", "--seed",
               "1") == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "was calibrated with score nll (now elbo): calibrated again" in out
    _, out = anomaly("--iw-samples", "7", "--seed", "1")
    assert "with score elbo (now nll): calibrated again" in out


def test_knn_score_is_the_mean_mahalanobis_distance_to_the_nearest_training_moments():
    torch.manual_seed(0)
    train = torch.randn(40, 6) @ torch.randn(6, 6)  # correlated features
    query = torch.randn(7, 6) * 2
    neighbours = Neighbours.fit(train)
    _, precision = fit_gaussian(train.double())
    brute = []
    for q in query.double():
        d = q - train.double()  # (40, 6): Mahalanobis distance to every training row
        dist = torch.einsum("ni,ij,nj->n", d, precision, d).sqrt()
        brute.append(dist.sort().values[:NEIGHBOURS].mean())
    torch.testing.assert_close(neighbours.distances(query).double(), torch.stack(brute),
                               rtol=1e-4, atol=1e-4)  # fmt: skip
    # A training row's own distance to itself is zero: it is among its nearest.
    assert float(neighbours.distances(train[:1])) < float(neighbours.distances(query).min())
    with pytest.raises(ValueError, match="more than 5 training images"):
        Neighbours.fit(train[:5])


def test_moment_features_are_means_and_log_stds():
    means, stds = torch.tensor([[0.5, -1.0]]), torch.tensor([[1.0, 0.5]])
    torch.testing.assert_close(moment_features(means, stds),
                               torch.tensor([[0.5, -1.0, 0.0, math.log(0.5)]]))  # fmt: skip


def test_knn_detector_saves_its_reference_and_refuses_another(normal_run, tmp_path: Path):
    run = tmp_path / "run"
    shutil.copytree(normal_run.path, run, ignore=shutil.ignore_patterns("anomaly.*"))
    model = vaekit.load(run)
    detector = AnomalyDetector(model, "knn").fit()
    assert detector.neighbours.reference.shape == (324, 4)  # 360 - 36 validation; 2Z features
    detector.save(run)
    assert (run / "anomaly.safetensors").is_file()
    again = AnomalyDetector.load(model, run)
    x = torch.from_numpy(_squares(5, 3, 9)[:, None]).float() / 255
    np.testing.assert_array_equal(again.decision_function(x), detector.decision_function(x))
    assert again.threshold_ == detector.threshold_

    other = AnomalyDetector(model, "knn", seed=1)
    other.fit(max_examples=100)
    other.save(tmp_path)  # a reference of 100 rows, calibrated elsewhere
    shutil.copy(tmp_path / "anomaly.safetensors", run / "anomaly.safetensors")
    with pytest.raises(VaekitError, match=r"is not the reference .* was calibrated with"):
        AnomalyDetector.load(model, run)
    (run / "anomaly.safetensors").unlink()
    with pytest.raises(VaekitError, match=r"missing, and .* needs it: delete .* to calibrate"):
        AnomalyDetector.load(model, run)


@pytest.mark.parametrize("damage", ["missing", "cut short", "another"])
def test_anomaly_command_calibrates_again_over_a_damaged_reference(
    normal_run, tmp_path: Path, capsys, damage
):
    """The knn reference is derived data: where it cannot be used, `vaekit anomaly` makes it
    again (with a note) rather than stopping, whatever --score is asked for."""
    run = tmp_path / "run"
    shutil.copytree(normal_run.path, run, ignore=shutil.ignore_patterns("anomaly.*"))
    np.save(tmp_path / "odd.npy", _squares(3, 3, 5))
    args = ["anomaly", run, str(tmp_path / "odd.npy"), "0", "-o", tmp_path / "s.csv", "--overwrite"]
    assert cli(*args, "--score", "knn") == 0
    first = (tmp_path / "s.csv").read_text()
    reference = run / "anomaly.safetensors"
    if damage == "missing":
        reference.unlink()
    elif damage == "cut short":
        reference.write_bytes(reference.read_bytes()[:-100])
    else:
        AnomalyDetector(vaekit.load(run), "knn", seed=1).fit(max_examples=100).save(tmp_path)
        shutil.copy(tmp_path / "anomaly.safetensors", reference)
    capsys.readouterr()
    assert cli(*args, "--score", "knn") == 0
    assert "calibrated again" in capsys.readouterr().out
    assert (tmp_path / "s.csv").read_text() == first  # the same reference, made again
    assert AnomalyDetector.load(vaekit.load(run), run).neighbours is not None
    reference.unlink()
    assert cli(*args, "--score", "latent") == 0  # another score is not blocked by it either
    assert json.loads((run / "anomaly.json").read_text())["score"] == "latent"


def test_anomaly_command_scores_by_knn(normal_run, tmp_path: Path, capsys):
    run = tmp_path / "run"
    shutil.copytree(normal_run.path, run, ignore=shutil.ignore_patterns("anomaly.*"))
    np.save(tmp_path / "odd.npy", _squares(3, 3, 5))
    out = tmp_path / "s.csv"
    assert cli("anomaly", run, str(tmp_path / "odd.npy"), "0", "-o", out, "--score", "knn") == 0
    flags = [int(line.split(",")[2]) for line in out.read_text().splitlines()[1:]]
    assert flags[:3] == [1, 1, 1]
    assert json.loads((run / "anomaly.json").read_text())["score"] == "knn"
    assert (run / "anomaly.safetensors").is_file()


def test_detection_quality_leaves_out_the_inputs_without_a_score():
    """An input with no observed value scores NaN (AnomalyDetector._scores): left out."""
    scores = np.array([0.1, 0.2, np.nan, 0.9, 0.8])
    truth = np.array([0, 0, 1, 1, 1])
    assert detection_quality(scores, truth) == {"auroc": 1.0, "average_precision": 1.0}
    with pytest.raises(VaekitError, match="both normal and anomalous"):
        detection_quality(np.array([np.nan, 0.3]), np.array([0, 1]))


@pytest.mark.parametrize("value", ["NaN", "Infinity"])
def test_a_saved_threshold_that_is_no_number_is_refused_when_read(normal_run, tmp_path, value):
    """anomaly.json with "threshold": NaN loaded, and `vaekit serve` then answered every
    /api/info with a 500 (its JSON cannot hold NaN)."""
    run = tmp_path / "run"
    shutil.copytree(normal_run.path, run, ignore=shutil.ignore_patterns("anomaly.*"))
    model = vaekit.load(run)
    AnomalyDetector(model, "elbo").fit().save(run)
    state = json.loads((run / "anomaly.json").read_text())
    state["threshold"] = float(value.replace("Infinity", "inf"))
    (run / "anomaly.json").write_text(json.dumps(state))
    with pytest.raises(VaekitError, match=r"not a finite number.*delete it"):
        AnomalyDetector.load(model, run)


def test_a_saved_latent_detector_scores_as_the_fitted_one(normal_run, tmp_path: Path):
    """The latent score's Gaussian is saved with it: a second `anomaly --score latent`
    reading anomaly.json scored as the first (without it: "needs the training data's
    Gaussian")."""
    run = tmp_path / "run"
    shutil.copytree(normal_run.path, run, ignore=shutil.ignore_patterns("anomaly.*"))
    model = vaekit.load(run)
    first, _ = load_or_fit(AnomalyDetector(model, "latent"), run)
    again, note = load_or_fit(AnomalyDetector(model, "latent"), run)
    x = torch.from_numpy(_squares(5, 3, 9)[:, None]).float() / 255
    assert note is None
    np.testing.assert_allclose(again.decision_function(x), first.decision_function(x))


def test_a_detector_fitted_on_other_data_is_not_saved_as_the_runs(normal_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(normal_run.path, run, ignore=shutil.ignore_patterns("anomaly.*"))
    np.save(tmp_path / "other.npy", _squares(200, 2, 5))
    model = vaekit.load(run)
    load_or_fit(AnomalyDetector(model, "recon"), run, data=str(tmp_path / "other.npy"))
    assert not (run / "anomaly.json").exists()


def test_the_runs_detector_keeps_its_quantile_and_flags_above_the_threshold(normal_run, tmp_path):
    """run_detector (serve's) keeps a quantile the user calibrated with (it recalibrated at
    0.99); a score equal to the threshold is not above it."""
    from vaekit.api.anomaly import run_detector

    run = tmp_path / "run"
    shutil.copytree(normal_run.path, run, ignore=shutil.ignore_patterns("anomaly.*"))
    model = vaekit.load(run)
    load_or_fit(AnomalyDetector(model, "recon", quantile=0.95), run)
    detector, note = run_detector(model, run)
    assert detector.quantile == 0.95 and note is None
    x = torch.from_numpy(_squares(3, 0, 9)[:, None]).float() / 255
    detector.threshold_ = float(detector.decision_function(x)[0])  # one score exactly at it
    assert detector.predict(x)[0] == 0


def test_the_complexity_and_latent_scores_are_their_formulas(normal_run):
    x = torch.from_numpy(_squares(4, 0, 9)[:, None]).float() / 255
    model = normal_run.model
    elbo = AnomalyDetector(model, "elbo").fit().decision_function(x)
    complexity = AnomalyDetector(model, "complexity").fit().decision_function(x)
    np.testing.assert_allclose(complexity, elbo - png_nats(x).numpy(), rtol=1e-5)
    # png_nats: the 8-bit image's PNG (compression level 9), its bits in nats
    from io import BytesIO

    from PIL import Image

    png = BytesIO()
    Image.fromarray(_squares(4, 0, 9)[0]).save(png, format="PNG", compress_level=9)
    assert float(png_nats(x[:1])[0]) == pytest.approx(len(png.getvalue()) * 8 * math.log(2))
    features = torch.randn(50, 3, generator=torch.Generator().manual_seed(0)) * 2 + 1
    _, precision = fit_gaussian(features, ridge=1e-3)
    expected = np.linalg.inv(np.cov(features.numpy(), rowvar=False) + 1e-3 * np.eye(3))
    np.testing.assert_allclose(precision.numpy(), expected, rtol=1e-4)
    latent = AnomalyDetector(model, "latent").fit()
    c, p = latent.latent_gaussian
    with torch.no_grad():
        d = model.vae.posterior_mean(x.to(model.device)).cpu() - c
    mahalanobis = ((d @ p) * d).sum(1).numpy()
    np.testing.assert_allclose(latent.decision_function(x), mahalanobis, rtol=1e-4)


def test_a_tables_contributions_add_up_to_its_score_at_any_seed(tmp_path: Path):
    from tests.cli.test_tables import write_sensors

    run = vaekit.train(str(write_sensors(tmp_path / "s.csv")), out=tmp_path / "r",
                       id_column="sensor", target="label", epochs=1, hidden_dims=(8,),
                       latent_dim=2, progress=False, report=False)  # fmt: skip
    detector = AnomalyDetector(run.model, "elbo", seed=1).fit()
    from vaekit.api.inputs import Inputs

    rows = Inputs(run.model).test
    parts = detector.contributions(rows)
    scores = detector.decision_function(rows)
    kl = scores - np.nansum(parts, axis=1)
    x = rows.scaled(torch.arange(len(rows))).to(run.model.device)
    with torch.no_grad():
        closed = run.model.vae.encode(x).kl_per_dim(run.model.vae.prior(1)).sum(1).cpu().numpy()
    np.testing.assert_allclose(kl, closed, atol=2e-3)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"score": "nll", "iw_samples": 0}, "iw_samples must be a whole number of at least 1"),
        ({"score": "nll", "iw_samples": 2.5}, "iw_samples must be a whole number"),
        ({"seed": "a"}, "a seed must be a whole number"),
        ({"seed": 1.5}, "a seed must be a whole number"),
        ({"quantile": "0.9"}, "quantile must be a number in (0, 1), got '0.9'"),
    ],
)
def test_a_detectors_settings_are_checked_in_one_line(normal_run, given, message):
    """A notebook's 2.5 or "0.9" ended in math domain, manual_seed or comparison errors."""
    with pytest.raises(VaekitError, match=re.escape(message)):
        AnomalyDetector(normal_run.model, **given)
    assert AnomalyDetector(normal_run.model, "nll", iw_samples=np.int64(100)).iw_samples == 100
    with pytest.raises(VaekitError, match="max_examples must be a whole number of at least 1"):
        AnomalyDetector(normal_run.model, "latent").fit(max_examples=0)
    with pytest.raises(VaekitError, match="iw_samples must be a whole number"):
        vaekit.evaluate(normal_run.model, iw_samples=2.5)
    with pytest.raises(VaekitError, match="a seed must be a whole number"):
        vaekit.evaluate(normal_run.model, seed=1.5)


def test_a_threshold_on_too_few_calibration_scores_is_warned_about(normal_run):
    """A series' threshold came from one validation window, and 57% of new steps were
    flagged, without a word: a quantile that the calibration examples are too few to place
    is warned about (a 0.99 quantile needs 100 of them)."""
    import warnings

    said = r"the 0\.99 quantile of the val split's scores, rests on \d+ examples, where such"
    with pytest.warns(UserWarning, match=said + " a quantile needs 100: the flags are"):
        detector = AnomalyDetector(normal_run.model).fit()
    assert detector.calibration["examples"] < 100
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AnomalyDetector(normal_run.model, quantile=0.9).fit()  # needs 10
