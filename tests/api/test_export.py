"""`vaekit export`: the encoder and decoder run in onnxruntime (and TorchScript) and give what
PyTorch gives."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from tests.cli.test_cli import vaekit as cli
from tests.conftest import write_idx_folder
from vaekit.errors import VaekitError

ort = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit")
FROZEN = Path(__file__).parents[1] / "frozen" / "run-v1"


def run_onnx(path: Path, **inputs: np.ndarray) -> list[np.ndarray]:
    return ort.InferenceSession(str(path)).run(None, inputs)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    """An mlp (the frozen run), a conditional conv model and a hierarchical one."""
    root = tmp_path_factory.mktemp("export")
    data = write_idx_folder(root / "idx", n_train=40, n_test=10, size=8)
    tiny = dict(latent_dim=3, epochs=1, batch_size=16, progress=False)
    return {
        "mlp": vaekit.load(FROZEN),
        "conv-conditional": vaekit.train(
            data, model="conv", channels=(4, 8), conditional=True, out=root / "c", **tiny
        ).model,
        "hvae": vaekit.train(data, model="hvae", hidden_dims=(16,), out=root / "h", **tiny).model,
        "hconv": vaekit.train(
            data, model="hconv", channels=(4, 8), layers=1, depth=1, out=root / "hc", **tiny
        ).model,
    }


@pytest.mark.parametrize("name", ["mlp", "conv-conditional", "hvae", "hconv"])
def test_onnx_files_match_pytorch(models, name: str, tmp_path: Path):
    model = models[name]
    manifest = vaekit.export(model, tmp_path, format="onnx")
    assert json.loads((tmp_path / "export.json").read_text()) == manifest
    assert manifest["weights_sha256"] == model.weights_sha256
    x = torch.rand(5, *model.shape)  # another batch size than the one traced
    extra = {"y": np.arange(5, dtype=np.int64) % 4} if model.num_classes else {}
    y = torch.from_numpy(extra["y"]) if extra else None
    mean, std = run_onnx(tmp_path / "encoder.onnx", x=x.numpy(), **extra)
    with torch.no_grad():
        want_mean, want_std = model.vae.posterior_moments(x, y)
        want_image = model.vae.mean_image(want_mean, y)
    np.testing.assert_allclose(mean, want_mean.numpy(), atol=1e-5)
    np.testing.assert_allclose(std, want_std.numpy(), atol=1e-5)
    (image,) = run_onnx(tmp_path / "decoder.onnx", z=want_mean.numpy(), **extra)
    assert image.shape == (5, *model.shape)
    np.testing.assert_allclose(image, want_image.numpy(), atol=1e-5)
    # The manifest says what a caller needs: the sizes, the input scale, and each file's
    # outputs by the names the file gives them (read here by name, not by position).
    assert manifest["shape"] == list(model.shape) and manifest["latent_dim"] == model.latent_dim
    assert manifest["num_classes"] == model.num_classes
    assert manifest["input_scale"].endswith(f"uint8 values / {model.max_value:g}")
    session = ort.InferenceSession(str(tmp_path / "encoder.onnx"))
    named = manifest["files"]["encoder"]["outputs"]
    assert [o.name for o in session.get_outputs()] == named == ["mean", "std"]
    (std,) = session.run(["std"], {"x": x.numpy(), **extra})
    np.testing.assert_allclose(std, want_std.numpy(), atol=1e-5)
    # The decoder's output is named after the kind of its examples: "image".
    session = ort.InferenceSession(str(tmp_path / "decoder.onnx"))
    named = manifest["files"]["decoder"]["outputs"]
    assert [o.name for o in session.get_outputs()] == named == [model.kind.name] == ["image"]
    (image,) = session.run(["image"], {"z": want_mean.numpy(), **extra})
    np.testing.assert_allclose(image, want_image.numpy(), atol=1e-5)


def test_the_exported_decoder_gives_what_model_decode_gives(tmp_path: Path):
    """A Gaussian likelihood's mean strays outside [0, 1]: Model.decode returned it as it was
    (0.65 from the exported decoder's on an untrained model), where the exported decoder,
    sample and reconstruct clamp it to the pixel range."""
    data = write_idx_folder(tmp_path / "idx", n_train=40, n_test=10, size=8)
    model = vaekit.train(data, model="mlp", hidden_dims=(16,), likelihood="gaussian",
                         latent_dim=3, epochs=1, batch_size=16, progress=False,
                         out=tmp_path / "g").model  # fmt: skip
    vaekit.export(model, tmp_path / "onnx", format="onnx")
    z = np.random.default_rng(0).normal(0, 3, (50, 3)).astype(np.float32)  # far: outside
    (image,) = run_onnx(tmp_path / "onnx" / "decoder.onnx", z=z)
    decoded = model.decode(z).numpy()
    with torch.no_grad():
        raw = model.vae.decode(torch.from_numpy(z)).mean.numpy()
    assert raw.min() < 0 or raw.max() > 1  # (the case: a mean outside the pixel range)
    np.testing.assert_allclose(decoded, image, atol=1e-5)
    assert decoded.min() >= 0 and decoded.max() <= 1


def test_torchscript_files_match_pytorch(models, tmp_path: Path):
    model = models["mlp"]
    assert cli("export", FROZEN, "--format", "torchscript", "-o", tmp_path) == 0
    x = torch.rand(3, *model.shape)
    mean, _ = torch.jit.load(str(tmp_path / "encoder.pt"))(x)
    image = torch.jit.load(str(tmp_path / "decoder.pt"))(mean)
    with torch.no_grad():
        torch.testing.assert_close(mean, model.vae.posterior_mean(x))
        torch.testing.assert_close(image, model.vae.mean_image(mean))


def test_export_mistakes_are_one_line_errors(tmp_path: Path, capsys):
    with pytest.raises(VaekitError, match="unknown format 'tflite'"):
        vaekit.export(FROZEN, tmp_path, format="tflite")
    (tmp_path / "file").write_text("x")
    assert cli("export", FROZEN, "-o", tmp_path / "file") == 1
    assert "exists and is not a folder" in capsys.readouterr().err


def test_a_run_holding_its_own_export_is_not_replaced_and_says_so(tmp_path: Path, capsys):
    """`vaekit export RUN -o RUN`, then training into RUN again: refused, rightly, but as
    "files vaekit did not write", which vaekit had written."""
    data = write_idx_folder(tmp_path / "idx", n_train=40, n_test=10, size=8)
    run = tmp_path / "run"
    tiny = dict(latent_dim=2, epochs=1, batch_size=16, progress=False, report=False)
    vaekit.train(data, model="mlp", hidden_dims=(8,), out=run, **tiny)
    assert cli("export", run, "--format", "torchscript", "-o", run) == 0
    with pytest.raises(VaekitError, match="holds what `vaekit export` wrote"):
        vaekit.train(data, model="mlp", hidden_dims=(8,), out=run, overwrite=True, **tiny)
    assert (run / "export.json").is_file()
    (run / "notes.txt").write_text("mine")  # beside the export: named as the user's
    with pytest.raises(VaekitError, match="holds files vaekit did not write"):
        vaekit.train(data, model="mlp", hidden_dims=(8,), out=run, overwrite=True, **tiny)


def test_an_export_that_fails_leaves_the_folder_as_it_was(tmp_path: Path, monkeypatch):
    import vaekit.api.export as export_module

    out = tmp_path / "exported"
    out.mkdir()
    for name in ("encoder.pt", "decoder.pt", "export.json"):  # another model's export
        (out / name).write_bytes(b"another model's " + name.encode())
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = export_module._torchscript
    made = []

    def fails_at_the_decoder(module, args, path):  # as an interrupt after the encoder
        if made:
            raise KeyboardInterrupt
        made.append(path)
        real(module, args, path)

    monkeypatch.setattr(export_module, "_torchscript", fails_at_the_decoder)
    with pytest.raises(KeyboardInterrupt):
        vaekit.export(FROZEN, out, format="torchscript", overwrite=True)
    # Not the new encoder beside the old decoder: every file as it was, nothing left over.
    # (Without overwrite=True an earlier export's files are refused, as the command does.)
    with pytest.raises(VaekitError, match="already exist: pass overwrite=True"):
        vaekit.export(FROZEN, out, format="torchscript")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    made.clear()
    with pytest.raises(KeyboardInterrupt):
        vaekit.export(FROZEN, tmp_path / "new", format="torchscript")
    assert not (tmp_path / "new").exists()  # a folder the export made is gone with it


def test_an_onnx_export_prints_nothing_of_the_exporters_own(tmp_path: Path, caplog):
    """onnxscript's optimizer warned "Skipping constant folding for op Split with multiple
    outputs." twice for a mixture likelihood's model: its own work, nothing for the user."""
    pytest.importorskip("onnxscript")
    run = vaekit.train("digits", out=tmp_path / "r", model="mlp", hidden_dims=(8,),
                       latent_dim=2, likelihood="logistic-mixture", epochs=1, progress=False,
                       report=False)  # fmt: skip
    with caplog.at_level(logging.WARNING):
        vaekit.export(run, tmp_path / "onnx")
    assert not [r for r in caplog.records if "Skipping constant folding" in r.getMessage()]


def test_the_manifest_names_the_datas_own_pixel_scale(tmp_path: Path):
    """digits' pixels go to 16: export.json told callers to divide by 255 had it been fixed."""
    model = vaekit.train("digits", model="mlp", hidden_dims=(8,), latent_dim=2, epochs=1,
                         out=tmp_path / "d", progress=False, report=False).model  # fmt: skip
    manifest = vaekit.export(model, tmp_path / "e", format="torchscript")
    assert manifest["input_scale"] == "float32 pixels in [0, 1]: uint8 values / 16"


def test_the_manifest_of_float_pixels_says_they_are_used_as_they_are(tmp_path: Path):
    """Float images in [0, 1] (max value 1): no uint8 values to divide."""
    import numpy as np

    images = np.random.default_rng(0).random((40, 1, 6, 6), dtype=np.float32)
    model = vaekit.train(images, model="mlp", hidden_dims=(8,), latent_dim=2, epochs=1,
                         likelihood="gaussian", out=tmp_path / "f", progress=False,
                         report=False).model  # fmt: skip
    manifest = vaekit.export(model, tmp_path / "e", format="torchscript")
    assert manifest["input_scale"] == "float32 pixels in [0, 1], as the training data held them"
