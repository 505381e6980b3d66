"""`vaekit.export`: a run's encoder and decoder as files other runtimes load.

    vaekit.export("runs/fm", "exported/fm", format="onnx")

writes into OUTDIR
    encoder.onnx | encoder.pt   x (B, C, H, W) float32 in [0, 1] [, y (B,) int64 labels]
                                -> posterior mean and standard deviation, each (B, Z)
    decoder.onnx | decoder.pt   z (B, Z) float32 [, y (B,) int64 labels]
                                -> the likelihood's mean image (B, C, H, W) in [0, 1]
    export.json                 the shapes, input names, format, the weights' sha256, and
                                how inputs are scaled (uint8 pixels / max_value)

ONNX files come from PyTorch's torch.export-based exporter with a dynamic batch dimension;
TorchScript files (.pt) from torch.jit.trace. Both hold the weights, so they run without
vaekit. The posterior of a hierarchical model is summarized as `posterior_moments` does.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vaekit.api.model import COUNT, Model, load, resolve_device, run_path
from vaekit.api.rundir import EXPORT_MANIFEST
from vaekit.errors import VaekitError
from vaekit.files import atomic_write, remove_stale, signals_held, temporary_prefix, write_json
from vaekit.version import __version__

FORMATS = ("onnx", "torchscript")
SUFFIX = {"onnx": ".onnx", "torchscript": ".pt"}
OPSET = 18


class _Encoder(nn.Module):
    """x (and labels) -> (posterior mean, posterior std), each (B, Z)."""

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        return self.vae.posterior_moments(x, y)


class _Decoder(nn.Module):
    """z (and labels) -> the likelihood's mean image, clamped to [0, 1]."""

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None):
        return self.vae.mean_image(z, y)


def export(
    model: Model | str | Path,
    out: str | Path,
    format: str = "onnx",
    batch: int = 2,
    device: str | torch.device = "cpu",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the encoder and decoder of `model` (or of a run directory) into folder `out`.

    Args:
        format: "onnx" or "torchscript".
        batch: the example batch size the graphs are traced with (ONNX keeps it dynamic).
        device: where the graphs are traced ("cpu", "cuda", "auto", ...). The CPU by
            default, so that the files run anywhere: a TorchScript file traced on a GPU
            holds that device. A Model elsewhere is traced from a copy; it is not moved.
        overwrite: replace the files of an earlier export in `out` (refused otherwise).

    Returns:
        The manifest written to out/export.json.
    """
    if format not in FORMATS:
        raise VaekitError(f"unknown format {format!r}: choose from {', '.join(FORMATS)}")
    if not isinstance(model, Model):  # a run directory's path, or a Run
        model = load(run_path(model), device)
    model.require_images("vaekit export")
    if model.config.autoregressive:
        raise VaekitError(
            "export: this model's autoregressive decoder (--autoregressive) draws pixel by "
            "pixel, which a traced decoder graph cannot do; only non-autoregressive models export"
        )
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise VaekitError(f"{out} exists and is not a folder")
    try:
        batch = COUNT.check(batch)
    except ValueError:
        raise VaekitError(f"batch must be a whole number of at least 1, got {batch!r}") from None
    taken = [out / n for n in (f"encoder{SUFFIX[format]}", f"decoder{SUFFIX[format]}",
                               EXPORT_MANIFEST) if (out / n).exists()]  # fmt: skip
    if taken and not overwrite:
        raise VaekitError(f"{', '.join(map(str, taken))} already exist: pass overwrite=True "
                          "to replace them, or export elsewhere")  # fmt: skip
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    # The files are made in a hidden folder of `out` and moved into it together at the end:
    # an export that fails or is interrupted leaves `out` as it was, never one model's
    # encoder beside another's decoder (or export.json describing other weights).
    # (moved with Ctrl-C and SIGTERM held: a signal between two moves left a mixed set)
    remove_stale(out, "export")
    staging = Path(tempfile.mkdtemp(prefix=temporary_prefix("export"), dir=out))
    try:
        manifest = _export(model, staging, format, batch, device)
        with signals_held():
            for name in [*(f["file"] for f in manifest["files"].values()), EXPORT_MANIFEST]:
                os.replace(staging / name, out / name)  # export.json last: the set is whole
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if made and not any(out.iterdir()):
            out.rmdir()
    return manifest


def _export(
    model: Model, out: Path, format: str, batch: int, device: str | torch.device
) -> dict[str, Any]:
    """export's work, into the folder `out`."""
    dev = resolve_device(str(device))
    vae = model.vae if model.device == dev else copy.deepcopy(model.vae).to(dev).eval()
    c, h, w = model.shape
    conditional = bool(model.num_classes)
    x = torch.rand(batch, c, h, w, device=dev)
    z = torch.randn(batch, model.latent_dim, device=dev)
    y = torch.arange(batch, device=dev) % max(model.num_classes, 1)
    suffix = SUFFIX[format]
    parts = {
        "encoder": (_Encoder(vae), (x, y) if conditional else (x,), ["x"], ["mean", "std"]),
        # The decoder's output is named after the kind of its examples, by the kind's name
        # (export takes image models only, and the name is public).
        "decoder": (_Decoder(vae), (z, y) if conditional else (z,), ["z"], [model.kind.name]),
    }
    manifest: dict[str, Any] = {
        "vaekit_version": __version__,
        "format": format,
        "weights_sha256": model.weights_sha256,
        "shape": [c, h, w],
        "latent_dim": model.latent_dim,
        "num_classes": model.num_classes,
        "input_scale": (
            f"float32 pixels in [0, 1]: uint8 values / {model.max_value:g}"
            if model.max_value != 1
            else "float32 pixels in [0, 1], as the training data held them"
        ),
        "files": {},
    }
    for name, (module, args, inputs, outputs) in parts.items():
        names = [*inputs, "y"] if conditional else inputs
        path = out / f"{name}{suffix}"
        with torch.no_grad():
            if format == "onnx":
                _onnx(module, args, names, outputs, path)
            else:
                _quietly(lambda m=module, a=args, p=path: _torchscript(m, a, p))
        manifest["files"][name] = {"file": path.name, "inputs": names, "outputs": outputs}
    write_json(out / EXPORT_MANIFEST, manifest)
    return manifest


def _torchscript(module: nn.Module, args: tuple, path: Path) -> None:
    traced = torch.jit.trace(module, args)
    atomic_write(path, lambda p: torch.jit.save(traced, str(p)))


def _onnx(
    module: nn.Module, args: tuple, inputs: list[str], outputs: list[str], path: Path
) -> None:
    batch = torch.export.Dim("batch", min=1)
    shapes = tuple({0: batch} for _ in args)

    def write(p: Path) -> None:
        program = torch.onnx.export(
            module,
            args,
            input_names=inputs,
            output_names=outputs,
            dynamic_shapes=shapes,
            opset_version=OPSET,
            dynamo=True,
            verbose=False,
        )
        program.save(str(p))

    try:
        _quietly(lambda: atomic_write(path, write))
    except ImportError as err:
        raise VaekitError(
            f"ONNX export needs the onnx and onnxscript packages ({err}): "
            "pip install 'vaekit[export]'"
        ) from None


def _quietly(call):
    """Run `call` without the exporters' progress lines, advisory warnings and log lines."""
    # torch's exporter and the onnxscript optimizer it calls ("Skipping constant folding
    # for op Split with multiple outputs.", a warning about its own work, not the user's)
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            return call()
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
