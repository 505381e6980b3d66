"""`vaekit denoise` and `vaekit uncertainty`."""

from __future__ import annotations

import argparse

from vaekit.cli.options import positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "denoise",
        help="reconstruct noisy images (and measure what it buys)",
        description="Reconstruct INPUTS (test-split indices or image/.npy files; default: the "
        "first -n test images) through the posterior mean. With --add-noise the clean inputs "
        "are corrupted first and the PSNR against them is reported before and after. Writes "
        "OUTDIR/denoised.png (rows of clean, noisy and denoised images), denoised.npy and "
        "denoise.json.",
        epilog="examples:\n  vaekit denoise runs/fm --add-noise gaussian:0.3 -o out/\n"
        "  vaekit denoise runs/fm scan1.png scan2.png -o out/",
        formatter_class=fmt,
    )
    p.add_argument("rundir", metavar="RUNDIR")
    p.add_argument("inputs", nargs="*", metavar="INPUT")
    p.add_argument("--add-noise", metavar="KIND:AMOUNT",
                   help="gaussian:STD, saltpepper:FRACTION or mask:FRACTION")  # fmt: skip
    p.add_argument("-n", type=positive_int, default=16, help="test images without INPUTS (16)")
    p.add_argument("--seed", type=int, default=0, help="seeds the noise (default: 0)")
    p.add_argument("--data", metavar="NAME|PATH", help="index into this dataset's test split")
    p.add_argument("-o", "--output", default="denoised", metavar="OUTDIR")
    p.set_defaults(run=run_denoise)

    p = sub.add_parser(
        "uncertainty",
        help="posterior spread and a per-pixel predictive uncertainty map",
        description="For each input, the posterior standard deviation per latent dimension "
        "and a per-pixel map of how much the reconstruction varies over --samples decodes of "
        "posterior samples. Writes OUTDIR/uncertainty.png (rows of inputs, mean "
        "reconstructions and spread maps, brighter = less certain), spread.npy and "
        "uncertainty.json.",
        epilog="example:\n  vaekit uncertainty runs/fm 0 1 2 odd.png -o unc/",
        formatter_class=fmt,
    )
    p.add_argument("rundir", metavar="RUNDIR")
    p.add_argument("inputs", nargs="*", metavar="INPUT")
    p.add_argument("--samples", type=positive_int, default=32, help="decodes (default: 32)")
    p.add_argument("-n", type=positive_int, default=8, help="test images without INPUTS (8)")
    p.add_argument("--seed", type=int, default=0, help="(default: 0)")
    p.add_argument("--data", metavar="NAME|PATH", help="index into this dataset's test split")
    p.add_argument("-o", "--output", default="uncertainty", metavar="OUTDIR")
    p.set_defaults(run=run_uncertainty)


def run_denoise(args: argparse.Namespace) -> int:

    from vaekit.api import apps
    from vaekit.api.model import load
    from vaekit.cli.output import output_folder, save_array
    from vaekit.files import write_json
    from vaekit.report.images import pairs_grid, save_grid

    out = output_folder(args.output, ("denoised.png", "denoised.npy", "denoise.json"))
    model = load(args.rundir)
    r = apps.denoise(model, args.inputs, args.add_noise, args.n, args.seed, args.data)
    out.mkdir(parents=True, exist_ok=True)
    rows = (
        [r["clean"], r["noisy"], r["denoised"]]
        if r["clean"] is not None
        else [r["noisy"], r["denoised"]]
    )
    k = 8
    grid = pairs_grid(*rows, ncols=k)
    save_grid(grid, out / "denoised.png", ncols=min(k, len(r["noisy"])))
    save_array(out / "denoised.npy", r["denoised"].numpy())
    report = {k: v for k, v in r.items() if k not in ("clean", "noisy", "denoised")}
    write_json(out / "denoise.json", {"noise": args.add_noise, "seed": args.seed, **report})
    print(f"denoised {len(r['noisy'])} images into {out}")
    if "mean_psnr_noisy" in r:
        before, after = r["mean_psnr_noisy"], r["mean_psnr_denoised"]
        print(f"  PSNR noisy {before:.2f} dB -> denoised {after:.2f} dB")
    return 0


def run_uncertainty(args: argparse.Namespace) -> int:

    from vaekit.api import apps
    from vaekit.api.model import load
    from vaekit.apps.restore import spread_to_image
    from vaekit.cli.output import output_folder, save_array
    from vaekit.files import write_json
    from vaekit.report.images import pairs_grid, save_grid

    out = output_folder(args.output, ("uncertainty.png", "spread.npy", "uncertainty.json"))
    model = load(args.rundir)
    r = apps.uncertainty(model, args.inputs, args.samples, args.n, args.seed, args.data)
    out.mkdir(parents=True, exist_ok=True)
    k = 8
    grid = pairs_grid(r["inputs"], r["mean"], spread_to_image(r["spread"]), ncols=k)
    save_grid(grid, out / "uncertainty.png", ncols=min(k, len(r["inputs"])))
    save_array(out / "spread.npy", r["spread"].numpy())
    per_input = [
        {
            "posterior_std_mean": float(std.mean()),
            "posterior_std": std.tolist(),
            "pixel_spread_mean": float(spread.mean()),
        }
        for std, spread in zip(r["posterior_std"], r["spread"], strict=True)
    ]
    write_json(
        out / "uncertainty.json", {"samples": args.samples, "seed": args.seed, "inputs": per_input}
    )
    print(f"wrote uncertainty for {len(per_input)} images into {out}")
    return 0
