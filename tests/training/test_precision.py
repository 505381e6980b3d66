"""--precision: bf16 autocast where it is native, fp32 with a notice elsewhere, reported numbers
always in fp32."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import vaekit
import vaekit.training.precision as precision
from tests.conftest import write_idx_folder
from vaekit.errors import VaekitError
from vaekit.training.precision import cpu_has_native_bf16, resolve_precision

CPU = torch.device("cpu")
TINY = dict(model="mlp", hidden_dims=(32,), latent_dim=3, epochs=3, batch_size=16, progress=False)


def test_the_posterior_and_its_kl_are_float32_under_autocast():
    from vaekit.models.factory import ModelConfig, build_vae

    config = ModelConfig.create((1, 8, 8), family="mlp", hidden_dims=(16,), latent_dim=3)
    model = build_vae(config)
    x = torch.rand(4, 1, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        qz = model.encode(x)
        out = model.loss(x, eps=torch.randn(4, 1, 3))
    assert qz.mean.dtype == qz.logvar.dtype == torch.float32
    assert out.kl.dtype == out.rec.dtype == out.objective.dtype == torch.float32


def test_cpu_flags_decide_native_bfloat16():
    assert cpu_has_native_bf16("flags : fpu avx512f avx512_bf16 amx_tile")
    assert cpu_has_native_bf16("flags : amx_bf16 amx_tile")
    assert not cpu_has_native_bf16("flags : fpu sse avx2 avx512f")
    assert not cpu_has_native_bf16("")


def test_what_each_request_resolves_to_on_a_cpu():
    assert resolve_precision("fp32", CPU, cpu_bf16=True).dtype is None
    assert resolve_precision("bf16", CPU, cpu_bf16=True).dtype == torch.bfloat16
    plain = resolve_precision("bf16", CPU, cpu_bf16=False)
    assert plain.dtype is None and "no native bfloat16" in plain.note
    assert resolve_precision("auto", CPU, cpu_bf16=True).name == "bf16"
    assert resolve_precision("auto", CPU, cpu_bf16=False).name == "fp32"
    with pytest.raises(VaekitError, match="fp16 is for CUDA GPUs"):
        resolve_precision("fp16", CPU)
    with pytest.raises(VaekitError, match="unknown precision"):
        resolve_precision("fp8", CPU)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_idx_folder(tmp_path_factory.mktemp("bf16") / "idx", n_train=120, n_test=40)


def test_bf16_trains_and_reports_in_fp32(data: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    low = vaekit.train(data, out=tmp_path / "bf16", precision="bf16", **TINY)
    full = vaekit.train(data, out=tmp_path / "fp32", precision="fp32", **TINY)
    assert low.history[-1]["train"]["loss"] < low.history[0]["train"]["loss"]
    weights = [load_file(str(r.path / "model.safetensors")) for r in (low, full)]
    assert all(w.dtype == torch.float32 for w in weights[0].values())
    assert any(not torch.equal(weights[0][k], weights[1][k]) for k in weights[0])  # it ran bf16
    assert low.test["neg_elbo"] == pytest.approx(full.test["neg_elbo"], rel=0.05)
    # The test line is computed in fp32: eval (fp32, K=1) repeats it.
    report = vaekit.evaluate(low.path, iw_samples=1, probe=False)
    assert report["elbo"]["loss"] == pytest.approx(low.test["neg_elbo"], abs=1e-4)


def test_bf16_without_native_support_trains_in_fp32_with_a_notice(
    data: Path, tmp_path: Path, monkeypatch
):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(UserWarning, match="no native bfloat16: training in fp32"):
        asked = vaekit.train(data, out=tmp_path / "asked", precision="bf16", **TINY)
    full = vaekit.train(data, out=tmp_path / "fp32", **TINY)
    a, b = (load_file(str(r.path / "model.safetensors")) for r in (asked, full))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("native", [True, False])
def test_auto_records_what_it_resolved_to(data: Path, tmp_path: Path, monkeypatch, native):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    run = vaekit.train(data, out=tmp_path / "auto", precision="auto", **{**TINY, "epochs": 1})
    training = json.loads((run.path / "config.json").read_text())["training"]
    assert training["precision"] == "auto"  # what was asked
    assert training["precision_resolved"] == ("bf16" if native else "fp32")  # what it ran in
    # A run written before the key existed still loads (the frozen run's test resumes one).
    config = json.loads((run.path / "config.json").read_text())
    del config["training"]["precision_resolved"]
    (run.path / "config.json").write_text(json.dumps(config))
    assert vaekit.load(run.path).latent_dim == TINY["latent_dim"]


def test_every_kind_of_data_trains_in_bf16(tmp_path: Path, monkeypatch):
    """A table's likelihood put its float32 densities into a bfloat16 tensor: `--precision
    bf16` (and `auto`, on a CPU with native bfloat16) ended every table's training in a
    RuntimeError. Its terms are float32, as every likelihood's."""
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    rng = np.random.default_rng(0)
    table = tmp_path / "t.csv"
    rows = [f"{rng.normal():.3f},{rng.normal() * 5:.3f},{'rgb'[i % 3]}" for i in range(120)]
    table.write_text("a,b,colour\n" + "\n".join(rows) + "\n")
    series = tmp_path / "s.csv"
    steps = [f"{i},{np.sin(i / 4):.3f},{rng.normal():.3f}" for i in range(200)]
    series.write_text("time,cpu,mem\n" + "\n".join(steps) + "\n")
    text = tmp_path / "lines.txt"
    text.write_text("\n".join(f"the {w} sat on the mat" for w in ["cat", "dog", "hen"] * 30))
    small = dict(epochs=2, latent_dim=2, progress=False, report=False, precision="bf16")
    for data, extra in ((table, {}), (series, {"window": 8}), (text, {})):
        run = vaekit.train(data, out=tmp_path / data.stem, **small, **extra)
        assert run.config["training"]["precision_resolved"] == "bf16"
        assert np.isfinite(run.test["neg_elbo"]), data.name
