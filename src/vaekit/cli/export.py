"""`vaekit export`: a run's encoder and decoder as ONNX or TorchScript files."""

from __future__ import annotations

import argparse

from vaekit.cli.options import add_device, add_rundir, checked_device
from vaekit.cli.output import add_overwrite

DESCRIPTION = """Write a run's encoder and decoder as files that run without vaekit:

  encoder.onnx|.pt   x (B, C, H, W) float32 in [0, 1] [, y (B,) int64 labels for a
                     conditional model] -> mean, std of q(z|x), each (B, Z)
  decoder.onnx|.pt   z (B, Z) float32 [, y] -> image (B, C, H, W), the likelihood's mean
  export.json        shapes, input and output names, how pixels are scaled, and the sha256
                     of the weights they came from

ONNX files (opset 18, a dynamic batch dimension) run in onnxruntime and other ONNX runtimes;
TorchScript files load with torch.jit.load, in Python or C++ (libtorch)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write the encoder and decoder as ONNX or TorchScript files",
        description=DESCRIPTION,
        epilog="examples:\n  vaekit export runs/fm -o exported/fm\n"
        "  vaekit export runs/fm --format torchscript -o exported/fm-ts",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_rundir(p)
    p.add_argument(
        "--format",
        choices=("onnx", "torchscript"),
        default="onnx",
        help="onnx (needs the onnx and onnxscript packages: pip install 'vaekit[export]') or "
        "torchscript (default: onnx)",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUTDIR",
        help="folder to write encoder, decoder and export.json into (created if missing)",
    )
    add_device(p, "cpu", ": the graphs are traced there, so that the files run anywhere; a "
               "TorchScript file traced on a GPU holds that device")  # fmt: skip
    add_overwrite(p, together=False)  # (its own set of files: vaekit.api.export)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import importlib.util

    from vaekit.api.export import export
    from vaekit.cli.output import Outputs
    from vaekit.errors import VaekitError

    checked_device(args)
    outputs = Outputs(args)
    suffix = ".onnx" if args.format == "onnx" else ".pt"
    names = (f"encoder{suffix}", f"decoder{suffix}", "export.json")
    outputs.folder(args.output, ", ".join(names), names)
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if args.format == "onnx" and missing:
        raise VaekitError(
            f"ONNX export needs {' and '.join(missing)}: pip install 'vaekit[export]' (or "
            "give --format torchscript)"
        )
    outputs.claim()
    # (the files were claimed above: existing ones only with --overwrite)
    manifest = export(args.rundir, args.output, args.format, device=args.device, overwrite=True)
    for part in manifest["files"].values():
        print(f"wrote {args.output}/{part['file']}  {part['inputs']} -> {part['outputs']}")
    print(f"wrote {args.output}/export.json")
    return 0
