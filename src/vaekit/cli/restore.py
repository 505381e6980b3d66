"""`vaekit denoise` and `vaekit uncertainty`."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaekit.cli.options import (
    add_device,
    add_rundir,
    add_seed,
    checked_device,
    count,
    load_run,
    noise,
    positive_int,
)
from vaekit.cli.output import add_overwrite
from vaekit.report.limits import MAX_GRID_IMAGES, MAX_SPREAD_SAMPLES

COLUMNS = 8  # inputs per row of the PNG, each above its outputs
INPUT_HELP = "test-split index or image/.npy file (default: the first -n test images)"


def shown(rows: int) -> int:
    """How many inputs a PNG shows when each brings `rows` images: whole rows of COLUMNS."""
    return MAX_GRID_IMAGES // rows // COLUMNS * COLUMNS


def add_parser(sub: argparse._SubParsersAction) -> None:
    _add_denoise(sub)
    _add_uncertainty(sub)


def _add_denoise(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "denoise",
        help="reconstruct noisy images (and measure what it buys)",
        description="Reconstruct INPUTS (test-split indices or image/.npy files; default: the "
        "first -n test images) through the posterior mean. With --add-noise the clean inputs "
        "are corrupted first and the PSNR against them is reported before and after. Writes "
        "OUTDIR/denoised.png (rows of clean, noisy and denoised images), denoised.npy and "
        f"denoise.json. The PNG shows at most the first {shown(3)} inputs ({shown(2)} without "
        f"--add-noise): its {MAX_GRID_IMAGES} images at most; the .npy and the .json hold all.",
        epilog="examples:\n  vaekit denoise runs/fm --add-noise gaussian:0.3 -o out/\n"
        "  vaekit denoise runs/fm scan1.png scan2.png -o out/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_rundir(p)
    p.add_argument("inputs", nargs="*", metavar="INPUT", help=INPUT_HELP)
    p.add_argument("--add-noise", metavar="KIND:AMOUNT", type=noise,
                   help="gaussian:STD, saltpepper:FRACTION or mask:FRACTION")  # fmt: skip
    p.add_argument("-n", type=positive_int, default=16, help="test images without INPUTS (16)")
    add_seed(p, "the noise")
    p.add_argument("--data", metavar="NAME|PATH", help="index into this dataset's test split")
    p.add_argument("-o", "--output", metavar="OUTDIR",
                   help="folder for the outputs, made if missing (default: "
                   "RUNDIR/outputs/denoise)")  # fmt: skip
    add_device(p)
    add_overwrite(p)
    p.set_defaults(run=run_denoise)


def _add_uncertainty(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "uncertainty",
        help="posterior spread and a per-pixel predictive uncertainty map",
        description="For each input, the posterior standard deviation per latent dimension "
        "and a per-pixel map of how much the reconstruction varies over --samples decodes of "
        "posterior samples. Writes OUTDIR/uncertainty.png (rows of inputs, mean "
        "reconstructions and spread maps, brighter = less certain), spread.npy and "
        f"uncertainty.json. The PNG shows at most the first {shown(3)} inputs (its "
        f"{MAX_GRID_IMAGES} images at most); the .npy and the .json hold all.",
        epilog="example:\n  vaekit uncertainty runs/fm 0 1 2 odd.png -o unc/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_rundir(p)
    p.add_argument("inputs", nargs="*", metavar="INPUT", help=INPUT_HELP)
    p.add_argument(
        "--samples",
        type=count(2, MAX_SPREAD_SAMPLES),
        default=32,
        help=f"decodes of posterior samples per input, from 2 to {MAX_SPREAD_SAMPLES:,} "
        "(default: 32)",
    )
    p.add_argument("-n", type=positive_int, default=8, help="test images without INPUTS (8)")
    add_seed(p, "the posterior samples")
    p.add_argument("--data", metavar="NAME|PATH", help="index into this dataset's test split")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUTDIR",
        help="folder for the outputs, made if missing (default: RUNDIR/outputs/uncertainty)",
    )
    add_device(p)
    add_overwrite(p)
    p.set_defaults(run=run_uncertainty)


def _save_picture(rows: list, path: Path) -> str:
    """The PNG of rows of aligned image sets (inputs above their outputs), the first inputs
    that fit; returns a note when some were left out of the picture."""
    from vaekit.report.images import pairs_grid, save_grid

    total, most = len(rows[0]), shown(len(rows))
    columns = min(COLUMNS, total)  # fewer inputs than a row: one column each, as many rows
    save_grid(pairs_grid(*(r[:most] for r in rows), ncols=columns), path, ncols=columns)
    return f" ({path.name} shows the first {most} of {total})" if total > most else ""


def run_denoise(args: argparse.Namespace) -> int:
    from vaekit.api import apps
    from vaekit.cli.output import Outputs, make_folder, save_array
    from vaekit.files import write_json

    checked_device(args)
    outputs = Outputs(args)
    names = ("denoised.png", "denoised.npy", "denoise.json")
    out = outputs.folder(args.output, ", ".join(names), names)
    outputs.claim()
    model = load_run(args)
    r = apps.denoise(model, args.inputs, args.add_noise, args.n, args.seed, args.data)
    rows = [r["noisy"], r["denoised"]]
    if r["clean"] is not None:
        rows.insert(0, r["clean"])
    report = {k: v for k, v in r.items() if k not in ("clean", "noisy", "denoised", "names")}
    report["inputs"] = r["names"]  # each input as given (or its test-split index), in order
    make_folder(out)  # (gone again, empty, if the command fails)
    save_array(out / "denoised.npy", r["denoised"].numpy())
    write_json(out / "denoise.json", {"noise": args.add_noise, "seed": args.seed, **report})
    note = _save_picture(rows, out / "denoised.png")
    print(f"denoised {len(r['noisy'])} images into {out}{note}")
    if "mean_psnr_noisy" in r:
        before, after = r["mean_psnr_noisy"], r["mean_psnr_denoised"]
        print(f"  PSNR noisy {before:.2f} dB -> denoised {after:.2f} dB")
    return 0


def run_uncertainty(args: argparse.Namespace) -> int:
    from vaekit.api import apps
    from vaekit.apps.restore import spread_to_image
    from vaekit.cli.output import Outputs, make_folder, save_array
    from vaekit.files import write_json

    checked_device(args)
    outputs = Outputs(args)
    names = ("uncertainty.png", "spread.npy", "uncertainty.json")
    out = outputs.folder(args.output, ", ".join(names), names)
    outputs.claim()
    model = load_run(args)
    r = apps.uncertainty(model, args.inputs, args.samples, args.n, args.seed, args.data)
    per_input = [
        {
            "input": name,  # as given, or its test-split index
            "posterior_std_mean": float(std.mean()),
            "posterior_std": std.tolist(),
            "pixel_spread_mean": float(spread.mean()),
        }
        for name, std, spread in zip(r["names"], r["posterior_std"], r["spread"], strict=True)
    ]
    make_folder(out)  # (gone again, empty, if the command fails)
    save_array(out / "spread.npy", r["spread"].numpy())
    # The PNG's spread row is scaled by the batch's largest spread (white): its value is the
    # scale, kept here and printed, so that two pictures can be compared.
    top = float(r["spread"].max()) if r["spread"].numel() else 0.0
    record = {"samples": args.samples, "seed": args.seed, "pixel_spread_max": top}
    write_json(out / "uncertainty.json", {**record, "inputs": per_input})
    rows = [r["inputs"], r["mean"], spread_to_image(r["spread"])]
    note = _save_picture(rows, out / "uncertainty.png")
    # a color model's spread is each channel's: a pixel is red where its red spreads most
    color = " of a color channel (each drawn in its color)" if r["spread"].shape[1] == 3 else ""
    print(f"wrote uncertainty for {len(per_input)} images into {out}{note}; in the PNG's third "
          f"row full brightness is the largest pixel spread{color}, {top:.4g} "
          "(pixel_spread_max)")  # fmt: skip
    return 0
