"""A folder of recordings through every command a user would try: train, eval, sample,
reconstruct, interpolate, anomaly, embed, report, data info, resume; the image-only commands
and mistakes end in one line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.cli.test_cli import vaekit
from vaekit.kinds.audio.data_wav import read_wav, write_wav

RATE = 8000
CLIP = "0.25"  # seconds: 2,000 samples, 1 + 2000 // 128 = 16 frames


def write_recordings(folder: Path, per: int = 8) -> Path:
    """`{kind}_{i}.wav`: tones of 400 Hz and 1.6 kHz and white noise, of varied lengths and
    loudness, in two subfolders."""
    rng = np.random.default_rng(0)
    for kind in ("low", "high", "noise"):
        for i in range(per):
            n = int(RATE * (0.15 + 0.02 * i))
            t = np.arange(n) / RATE
            if kind == "noise":
                x = 0.2 * rng.standard_normal(n)
            else:
                x = 0.5 * np.sin(2 * np.pi * (400 if kind == "low" else 1600) * t)
            sub = folder / ("a" if i % 2 else "b")
            sub.mkdir(parents=True, exist_ok=True)
            write_wav(sub / f"{kind}_{i}.wav", x * (0.5 + 0.1 * i), RATE)
    return folder


@pytest.fixture(scope="module")
def audio_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("audio")
    data = write_recordings(root / "recordings")
    out = root / "run"
    code = vaekit("train", "--data", data, "--clip-seconds", CLIP, "--n-mels", "16",
                  "--n-fft", "256", "--label-pattern", "^([a-z]+)_", "--test-pattern",
                  r"_[01]\.wav$", "--epochs", "6", "--lr", "1e-2", "--beta", "0.05",
                  "--latent-dim", "4", "--channels", "8,16", "--batch-size", "8", "--out", out,
                  "--no-report", "--quiet")  # fmt: skip
    assert code == 0
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def tone_shares(path: Path) -> tuple[float, float]:
    """The shares of a clip's energy near 400 Hz and near 1.6 kHz: which tone it sounds like."""
    samples, rate = read_wav(path)
    power = np.abs(np.fft.rfft(samples)) ** 2
    hz = np.fft.rfftfreq(len(samples), 1 / rate)
    near = [power[(hz >= f - 100) & (hz < f + 100)].sum() / power.sum() for f in (400, 1600)]
    return float(near[0]), float(near[1])


def test_train_records_the_audio_settings_and_statistics(audio_run: Path):
    config = json.loads((audio_run / "config.json").read_text())
    assert config["model"]["kind"] == "audio"
    audio = config["model"]["schema"]
    assert (audio["sample_rate"], audio["clip_seconds"], audio["n_mels"]) == (RATE, 0.25, 16)
    assert len(audio["mean"]) == len(audio["std"]) == 16 and min(audio["std"]) > 0
    assert audio["classes"] == ["high", "low", "noise"]
    assert config["model"]["shape"] == [1, 16, 16] and config["model"]["likelihood"] == "gaussian"
    assert config["data"]["kind"] == "audio" and config["data"]["num_test"] == 6
    assert (audio_run / "samples.png").exists() and (audio_run / "reconstructions.png").exists()


def test_eval_reports_nats_per_clip_and_the_log_spectral_distance(audio_run, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert vaekit("eval", audio_run, "--iw-samples", "4", "--json", out, "--quiet") == 0
    report = json.loads(out.read_text())
    assert report["bits_per_dim"] is None and report["split_size"] == 6
    assert report["reconstruction"]["lsd_db"] > 0 and report["not_finite"] == []
    # In dB, recomputed: each clip's per-frame RMS over mels, averaged; and the RMS of all
    # (a distance in standardized units, or a mean absolute one, each passed `> 0`)
    from vaekit.api.inputs import Inputs
    from vaekit.api.model import load

    model = load(audio_run)
    x = Inputs(model).test.images
    with torch.no_grad():
        a, b = (model.schema.to_decibels(t) for t in (x, model.vae.reconstruct(x)))
    frames = (a - b).double().pow(2).mean(dim=(1, 2)).sqrt()
    assert report["reconstruction"]["lsd_db"] == pytest.approx(float(frames.mean()), rel=1e-4)
    rmse = float((a - b).double().pow(2).mean().sqrt())
    assert report["reconstruction"]["rmse_db"] == pytest.approx(rmse, rel=1e-4)
    assert "log-spectral distance" in capsys.readouterr().out
    assert vaekit("eval", audio_run, "--iw-samples", "4", "--json", out, "--quiet",
                  "--no-reconstruction", "--overwrite") == 0  # fmt: skip
    shown = capsys.readouterr().out
    assert "log-spectral distance" not in shown and "skipped: --no-reconstruction" in shown
    assert "standardized log-mel spectrograms" in shown  # still says what the data is
    assert json.loads(out.read_text())["iwae"] == report["iwae"]


def assert_wavs(folder: Path, names: list[str]) -> None:
    assert sorted(p.name for p in folder.glob("*.wav")) == sorted(names)
    for name in names:
        samples, rate = read_wav(folder / name)
        assert rate == RATE and len(samples) == 2000 and np.abs(samples).max() > 0
    assert (folder / "spectrograms.png").exists()


def test_sample_reconstruct_interpolate_write_wavs(audio_run, tmp_path):
    assert vaekit("sample", audio_run, "-n", "3", "-o", tmp_path / "s") == 0
    assert_wavs(tmp_path / "s", [f"sample_{i:03d}.wav" for i in range(3)])

    assert vaekit("reconstruct", audio_run, "-n", "2", "-o", tmp_path / "r") == 0
    stems = ["a__high_1", "a__low_1"]  # the test split's first files, flattened
    made = [f"{s}_{k}.wav" for s in stems for k in ("input", "reconstruction")]
    assert_wavs(tmp_path / "r", made)
    # Each reconstruction is of its own input: the high tone's sounds high, the low tone's low.
    low, high = tone_shares(tmp_path / "r" / "a__high_1_reconstruction.wav")
    assert high > 4 * low, (low, high)
    low, high = tone_shares(tmp_path / "r" / "a__low_1_reconstruction.wav")
    assert low > 4 * high, (low, high)

    mine = tmp_path / "mine.wav"
    write_wav(mine, 0.3 * np.sin(np.arange(4000) / RATE * 2 * np.pi * 400), RATE)
    assert vaekit("reconstruct", audio_run, str(mine), "-o", tmp_path / "r2") == 0
    assert_wavs(tmp_path / "r2", ["mine_input.wav", "mine_reconstruction.wav"])
    low, high = tone_shares(tmp_path / "r2" / "mine_reconstruction.wav")  # a 400 Hz tone
    assert low > 4 * high, (low, high)

    code = vaekit("interpolate", audio_run, "--from", "0", "--to", str(mine), "--steps", "4",
                  "-o", tmp_path / "i")  # fmt: skip
    assert code == 0
    assert_wavs(tmp_path / "i", [f"step_{i:02d}.wav" for i in range(4)])


def test_anomaly_and_embed_name_the_files(audio_run, tmp_path):
    out = tmp_path / "scores.csv"
    assert vaekit("anomaly", audio_run, "-o", out, "--normal-labels", "0,1") == 0
    rows = read_csv(out)
    assert [r["file"] for r in rows][:3] == ["a/high_1.wav", "a/low_1.wav", "a/noise_1.wav"]
    assert len(rows) == 6 and (tmp_path / "scores_errors.png").exists()
    z = tmp_path / "z.csv"
    assert vaekit("embed", audio_run, "-o", z) == 0
    rows = read_csv(z)
    assert set(rows[0]) == {"file", "mean_0", "mean_1", "mean_2", "mean_3", "label"}
    assert {r["label"] for r in rows} == {"high", "low", "noise"}
    # a test-split index is named by its clip's file, as anomaly names it (embed said "2")
    assert vaekit("embed", audio_run, "2", "-o", tmp_path / "two.csv") == 0
    assert assert_names(tmp_path / "two.csv") == ["a/noise_1.wav"]
    assert vaekit("anomaly", audio_run, "2", "-o", tmp_path / "two-scores.csv") == 0
    assert [r["file"] for r in read_csv(tmp_path / "two-scores.csv")] == ["a/noise_1.wav"]


def assert_names(path):
    return [r["file"] for r in read_csv(path)]


def test_report_data_info_and_resume(audio_run, tmp_path, capsys):
    assert vaekit("eval", audio_run, "--iw-samples", "2", "--quiet") == 0
    assert vaekit("report", audio_run) == 0
    page = (audio_run / "report.html").read_text()
    assert page.count("<audio controls") == 4 + 2 * 4 and "Latent traversal" not in page
    assert "log-spectral distance" in page
    data = json.loads((audio_run / "config.json").read_text())["data"]["name"]
    assert vaekit("data", "info", data, "--label-pattern", "^([a-z]+)_") == 0
    said = capsys.readouterr().out
    assert "24 .wav files" in said and "3 classes: high, low, noise" in said
    assert vaekit("train", "--out", audio_run, "--resume", "--epochs", "7", "--no-report",
                  "--quiet") == 0  # fmt: skip
    assert len((audio_run / "metrics.jsonl").read_text().splitlines()) == 8  # 7 epochs, final


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["traverse", "{run}", "-o", "{tmp}/t.png"], "this run's model is of audio"),
        (["serve", "{run}"], "works on images"),
        (["export", "{run}", "--format", "onnx", "-o", "{tmp}/x"], "works on images"),
        (["anomaly", "{run}", "--score", "complexity", "-o", "{tmp}/a.csv"], "for audio use"),
        (["reconstruct", "{run}", "{tmp}", "-o", "{tmp}/r"], "a folder"),
        (["reconstruct", "{run}", "999", "-o", "{tmp}/x"], "index 999 is past the end"),
        (
            ["reconstruct", "{run}", "{data}/a/low_1.wav", "{data}/a/low_1.wav", "-o", "{tmp}/x"],
            "would both be written as low_1_input.wav",
        ),
        (
            ["train", "--data", "{data}", "--likelihood", "bernoulli", "--out", "{tmp}/x"],
            "does not fit audio",
        ),
        (
            ["train", "--data", "{data}", "--label-pattern", "[a-z]+_", "--out", "{tmp}/x"],
            "needs a group",
        ),
        (
            ["train", "--data", "{data}", "--test-pattern", "^zzz", "--out", "{tmp}/x"],
            "no file name matches",
        ),
        (["train", "--data", "{data}", "--image-size", "8", "--out", "{tmp}/x"], "not for audio"),
        # the kind's own refusal, not the pixels' likelihoods audio refuses as well
        (
            ["train", "--data", "{data}", "--autoregressive", "1", "--out", "{tmp}/x"],
            "--autoregressive does not fit audio",
        ),
        (["train", "--data", "digits", "--n-mels", "8", "--out", "{tmp}/x"], "is for audio"),
        (["train", "--data", "{empty}", "--out", "{tmp}/x"], "no dataset found"),
        (["data", "prepare", "{data}", "--image-size", "8"], "nothing to prepare"),
    ],
)
def test_mistakes_end_in_one_line(audio_run, tmp_path, capsys, command, message):
    data = json.loads((audio_run / "config.json").read_text())["data"]["name"]
    (tmp_path / "empty").mkdir()
    fill = {"run": audio_run, "tmp": tmp_path, "data": data, "empty": tmp_path / "empty"}
    args = [a.format(**fill) for a in command]
    assert vaekit(*args) != 0
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err, err
    assert not (tmp_path / "x").exists()


def test_a_conditional_audio_model_samples_a_class_and_is_evaluated(audio_run, tmp_path):
    data = json.loads((audio_run / "config.json").read_text())["data"]["name"]
    out = tmp_path / "cond"
    code = vaekit("train", "--data", data, "--clip-seconds", CLIP, "--n-mels", "16", "--n-fft",
                  "256", "--label-pattern", "^([a-z]+)_", "--conditional", "--epochs", "6",
                  "--lr", "1e-2", "--batch-size", "8", "--latent-dim", "2", "--channels", "8,16",
                  "--out", out, "--no-report", "--quiet")  # fmt: skip
    assert code == 0
    assert vaekit("sample", out, "-n", "2", "--label", "2", "-o", tmp_path / "s") == 0
    assert_wavs(tmp_path / "s", ["sample_000.wav", "sample_001.wav"])
    # The label decides the sound: near the prior's mean, class 0 (high) is the 1.6 kHz tone
    # and class 1 (low) the 400 Hz one.
    for label, folder in (("0", "high"), ("1", "low")):
        assert vaekit("sample", out, "-n", "2", "--label", label, "--temperature", "0.01",
                      "-o", tmp_path / folder) == 0  # fmt: skip
        low, high = tone_shares(tmp_path / folder / "sample_000.wav")
        assert (high > 4 * low) if folder == "high" else (low > 4 * high), (folder, low, high)
    assert vaekit("eval", out, "--iw-samples", "2", "--json", tmp_path / "e.json", "--quiet") == 0
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["conditional_on_label"] and report["reconstruction"]["lsd_db"] > 0


def test_an_audio_vqvae_is_sampled_only_after_fit_prior_as_images_are(audio_run, tmp_path, capsys):
    data = json.loads((audio_run / "config.json").read_text())["data"]["name"]
    out = tmp_path / "vq"
    assert vaekit("train", "--data", data, "--clip-seconds", CLIP, "--n-mels", "16", "--n-fft",
                  "256", "--model", "vqvae", "--epochs", "1", "--batch-size", "8",
                  "--out", out, "--no-report", "--quiet") == 0  # fmt: skip
    capsys.readouterr()
    assert vaekit("sample", out, "-n", "2", "-o", tmp_path / "s") == 1
    assert f"vaekit fit-prior {out} trains the code prior sampling needs" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()  # (it wrote uniform-prior clips, warning)
