"""The image kind's render part: see vaekit.kinds.protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vaekit.apps import latent
from vaekit.apps.projection import manifold_latents
from vaekit.errors import VaekitError
from vaekit.report.html import caption, figure, image
from vaekit.report.images import data_uri, pairs_grid, png_bytes
from vaekit.report.latent import kl_per_dim, map_points
from vaekit.report.outputs import (
    bits_per_dim_line,
    draw_error_maps,
    draw_pictures,
    skipped_lines,
    write_index_scores,
)
from vaekit.report.view import Builder, RunView

# --- the command line's outputs (see vaekit.kinds.protocol, "render part") ---------------

# The file `sample`, `reconstruct` and `interpolate` write for images: a PNG grid.
OUTPUT_SUFFIX = ".png"
# What `anomaly` writes beside its scores' CSV: the top inputs above their error maps.
ANOMALY_BESIDE = ("_errors.png",)
# The commands with a flow of the kind's own at the command line: none, images take the
# shared ones.
FLOWS: tuple[str, ...] = ()
# Whether --npy (the examples as a float32 .npy array) is offered beside the PNG.
ARRAYS = True
# Whether INPUTs name rows (test-split indices, table files: Inputs.rows) rather than images.
ROWS = False


def write_samples(model, x, out, n: int) -> str:
    """The first samples of `x` (N, C, H, W) in [0, 1] that a PNG grid holds, as one PNG at
    `out`; `n` is how many were drawn in all. Returns what was written, for "wrote ... to"."""
    from vaekit.report.images import save_grid
    from vaekit.report.limits import MAX_GRID_IMAGES

    shown = x[:MAX_GRID_IMAGES]
    save_grid(shown, out)
    of = f" (the first {len(shown)} of {n})" if len(shown) < n else ""
    return f"{len(shown)} samples{of}"


def write_reconstructions(model, ids, x, made, out) -> str:
    """The first inputs `x` a PNG shows, each row above their reconstructions `made` (both
    (N, C, H, W) in [0, 1]), as a PNG at `out` (`ids` unused: images are shown, not named);
    returns what was written, for "wrote ... to"."""
    from vaekit.report.images import pairs_grid, save_grid
    from vaekit.report.limits import MAX_GRID_IMAGES

    shown = MAX_GRID_IMAGES // 2
    save_grid(pairs_grid(x[:shown], made[:shown]), out, ncols=8)
    of = f" (the first {shown} of {len(x)})" if len(x) > shown else ""
    n = min(len(x), shown)
    if n == 1:
        return f"1 image{of} and its reconstruction"
    return f"{n} images{of} and their reconstructions"


def write_interpolation(model, x, out, steps: int, grid: bool) -> str:
    """The decoded steps `x` (N, C, H, W) as a PNG at `out`, rows of `steps` (wrapped at the
    grid's widest); returns what was written, for "wrote ... to"."""
    from vaekit.report.images import save_grid
    from vaekit.report.limits import MAX_GRID_COLUMNS

    save_grid(x, out, ncols=min(steps, MAX_GRID_COLUMNS))
    return f"{len(x)} image{'' if len(x) == 1 else 's'}"


def anomaly_ids(model, specs: list[str], test_ids) -> list[str] | None:
    """The names of the INPUTs `anomaly` scores, for its CSV (`test_ids()`: the test split's
    ids, read only where asked): None, for each INPUT as given (a test-split index or a file;
    "FILE[i]" for the images of a file that holds several)."""
    return None


def write_scores(model, output, data, scores, flags, labels, detector, score: str) -> None:
    """`anomaly`'s CSV: index (the test split's), or input (each INPUT as given), then score,
    anomalous, label. Returns nothing that `show_top` needs."""
    write_index_scores(output, scores, flags, labels, data.ids, id_header="input")


def show_top(model, data, scores, top, maps, written) -> None:
    """The top-scoring inputs (`top`, indices into `data`) above their per-pixel
    reconstruction errors (brighter = worse), as the PNG `maps`, and a line saying so."""
    draw_error_maps(model, data, top, maps)


def class_names(model) -> list[str] | None:
    """The names of the classes by label index that `embed` writes in a CSV's label column:
    none for images (their labels are written as numbers)."""
    return None


# What the page of `vaekit serve` calls the examples on its map.
served_noun = "images"


def id_header(model) -> str:
    """The header of the id column `embed` writes first where its inputs are named (each as
    given: a test-split index or a file), as `anomaly` heads it."""
    return "input"


# --- the report, the compare page and the web page (see vaekit.kinds.protocol) -----------
# The report's pictures of an image model (report_sections): samples, reconstructions, an
# interpolation strip, a latent traversal and, for a 2-D latent space, the decoded manifold.
# Each builder takes a RunView and returns HTML, or raises VaekitError saying why the model or
# the run cannot have that picture; every draw is seeded with the run's seed.

TRAVERSE_DIMS = 10
MANIFOLD_STEPS = 15


def report_sections(model: Any, shared: list[tuple[str, Builder]]) -> list[tuple[str, Builder]]:
    """The report's sections of an image model, in page order: its pictures, then `shared`
    (the KL per latent dimension, the latent map), then the manifold for a 2-D latent space."""
    sections = [
        ("Samples", samples_section),
        ("Reconstructions", reconstructions_section),
        ("Interpolation", interpolation_section),
        ("Latent traversal", traversal_section),
        *shared,
    ]
    if model.latent_dim == 2:
        sections.append(("Manifold", manifold_section))
    return sections


def samples_section(run: RunView) -> str:
    model = run.model
    label = torch.arange(64) // 8 % model.num_classes if model.num_classes else None
    images = model.sample(64, seed=run.seed, label=label)
    given = "; row r is class r mod the number of classes" if model.num_classes else ""
    text = f"64 images decoded from prior samples (seed {run.seed}){given}"
    return image(data_uri(png_bytes(images, 8)), "samples") + caption(text)


def reconstructions_section(run: RunView) -> str:
    inputs, outputs = run.reconstructions(16)
    grid = pairs_grid(inputs, outputs)
    text = "the first 16 test images (odd rows) above their posterior-mean reconstructions"
    return image(data_uri(png_bytes(grid, 8)), "reconstructions") + caption(text)


def _pairs(run: RunView, count: int) -> list[tuple[int, int]]:
    """Test images to interpolate between: each from one of the first images to the next
    one with another label (where there are labels)."""
    test = run.need_test()
    if len(test) < 2:
        raise VaekitError("interpolation needs at least 2 test images")
    labels = test.labels
    pairs = []
    for start in range(min(count, len(test) - 1)):
        end = start + 1
        if labels is not None:
            others = (labels[start + 1 :] != labels[start]).nonzero()
            end = start + 1 + int(others[0]) if len(others) else end
        pairs.append((start, end))
    return pairs


def interpolation_section(run: RunView, steps: int = 10) -> str:
    run.model.require_unconditional("interpolation")
    test, vae, device = run.need_test(), run.model.vae, run.model.device
    rows = []
    for start, end in _pairs(run, 3):
        x = test.scaled(torch.tensor([start, end])).to(device)
        path = latent.interpolate(vae, x[:1], x[1:], steps, "lerp").cpu()
        rows.append(torch.cat([x[:1].cpu(), path, x[1:].cpu()]))
    grid = png_bytes(torch.cat(rows), steps + 2)
    pairs = ", ".join(f"{a} to {b}" for a, b in _pairs(run, 3))
    text = (
        f"test images {pairs}: each row starts and ends with the inputs; between them, the "
        f"decoded straight line between their posterior means in {steps} steps"
    )
    return image(data_uri(grid), "interpolation") + caption(text)


def traversal_section(run: RunView, span: float = 3.0, steps: int = 9) -> str:
    model = run.model
    model.require_unconditional("latent traversal")
    if len(model.vae.layer_sizes) > 1 or not model.vae.prior.gaussian:
        raise VaekitError(
            "a traversal varies latents around a standard normal prior: it needs a one-layer "
            "model with the standard-normal prior"
        )
    kl = kl_per_dim(run)
    dims = sorted(range(model.latent_dim), key=lambda d: -float(kl[d]))[:TRAVERSE_DIMS]
    x = run.need_test().scaled(slice(0, 1)).to(model.device)
    with torch.no_grad():
        z = model.vae.posterior_mean(x)[0]
    images = latent.traverse(model.vae, z, dims, span, steps).cpu()
    rows = ", ".join(f"z{d} ({float(kl[d]):.2f})" for d in dims)
    text = (
        f"around the posterior mean of test image 0, one latent dimension per row from -{span:g} "
        f"to +{span:g} prior standard deviations, the others held; rows by KL (nats): {rows}"
    )
    return image(data_uri(png_bytes(images, steps)), "latent traversal") + caption(text)


def manifold_section(run: RunView) -> str:
    vae = run.model.vae
    run.model.require_unconditional("the manifold")
    if len(vae.layer_sizes) > 1:
        raise VaekitError("a hierarchical model has no 2-D latent plane to draw as a grid")
    s = MANIFOLD_STEPS
    if vae.prior.gaussian:
        q = torch.special.ndtri(torch.linspace(0.05, 0.95, s, dtype=torch.float64))
        prior = vae.prior()
        mean, std = prior.mean[0].cpu().double(), prior.std[0].cpu().double()
        z0, z1 = mean[0] + std[0] * q, mean[1] + std[1] * q
        how = "the prior's quantiles 5%..95% on each axis (Kingma & Welling 2014, fig. 4)"
    else:
        means = map_points(run)[0].double()
        low, high = torch.quantile(means, 0.01, dim=0), torch.quantile(means, 0.99, dim=0)
        z0, z1 = (torch.linspace(float(low[d]), float(high[d]), s) for d in range(2))
        how = "the range of the test set's posterior means (1st to 99th percentile)"
    grid = manifold_latents(z0.float(), z1.float()).to(run.model.device)
    with torch.no_grad():
        images = vae.mean_image(grid).cpu()
    text = f"a {s} x {s} grid decoded over {how}; z0 grows to the right, z1 upwards"
    return image(data_uri(png_bytes(images, s, pad=0)), "manifold") + caption(text)


def compare_samples(model: Any, name: str, seed: int) -> str:
    """16 samples of `model` (seed `seed`) as one figure of the compare page, captioned `name`;
    a conditional model's row r is of class r mod its number of classes."""
    label = torch.arange(16) // 4 % model.num_classes if model.num_classes else None
    images = model.sample(16, seed=seed, label=label)
    return figure(image(data_uri(png_bytes(images, 4)), f"samples of {name}"), name)


def schema_shown(schema: Any, checksum: bool = False) -> Any:
    """config.json's model.schema as a page shows it: images have none to shorten."""
    return schema


# The `vaekit serve` page takes an image file to reconstruct and score (vaekit.kinds.protocol)
uploads = True


def served(model: Any, x: torch.Tensor, ncols: int | None = None) -> dict[str, str]:
    """Decoded images x (N, C, H, W) in [0, 1] as the fields of a `vaekit serve` answer that
    the page draws: "image", a PNG data: URI; one image without a border (ncols None), else a
    grid of `ncols` columns."""
    png = png_bytes(x, 1, pad=0) if ncols is None else png_bytes(x, ncols)
    return {"image": data_uri(png)}


# --- `vaekit eval`'s table (see vaekit.kinds.protocol, "render part") -------------------


def eval_nouns(report: dict) -> tuple[str, str]:
    """What the likelihood is for and what the data is, as `vaekit eval`'s table names them:
    pixels of each one's support ("binary pixels", "8-bit pixels")."""
    return f"{report['likelihood_support']} pixels", f"{report['data_support']} pixels"


def eval_lines(report: dict) -> list[str]:
    """`vaekit eval`'s lines after the bounds: bits/dim, and the MSE and PSNR of the
    posterior-mean reconstruction (or why it was skipped)."""
    import math

    rec = report.get("reconstruction", {})
    lines = [bits_per_dim_line(report), *skipped_lines(rec)]
    if rec and "skipped" not in rec:
        psnr = rec["psnr_db"]
        lines.append(
            f"  {'reconstruction':<24}MSE {rec['mse']:.5f}, PSNR "
            + ("inf" if math.isinf(psnr) else f"{psnr:.2f} dB")
        )
    return lines


# --- the pictures `vaekit train` writes beside a run (vaekit.api.report.write_pictures) -----


def pictures(
    model: Any, test: Any, history: list[dict[str, Any]], files: dict[str, Path], seed: int
) -> dict[str, Path]:
    """files["samples"] (64 prior samples, seeded), files["reconstructions"] (the first 32
    test images above their reconstructions) and files["curves"] (the training curves) for
    a Model `model` and its test split `test` (an ImageSet); returns what it wrote by name."""
    return draw_pictures(model, test, history, files, seed, lambda x: x)


def info_lines(info: dict[str, Any]) -> list[str]:
    """`vaekit data info`'s lines for images, after the name (and a registered dataset's
    description and files): shape, pixels, each split, classes and checksum."""
    shape, pixels = tuple(info["shape"]), info["pixels"]
    lines = [f"  image shape {shape}, {info['dtype']}, max value {info['max_value']}, "
             f"{pixels} pixels"]  # fmt: skip
    for name, s in info["splits"].items():
        labels = "labelled" if s["labels"] else "no labels"
        lines.append(
            f"  {name:<5} {s['images'][0]:>7} images, {labels}, values {s['min']:g}..{s['max']:g}"
            f" (mean {s['mean']:.2f})"
        )
    names = info.get("classes") or []
    if info.get("num_classes"):  # by label index, where they have names (a folder's)
        shown = ", ".join(f"{i} {name}" for i, name in enumerate(names[:20]))
        more = ", ..." if len(names) > 20 else ""
        lines.append(f"  classes {info['num_classes']}" + (f": {shown}{more}" if names else ""))
    if info.get("test_carved"):
        lines.append(f"  test split carved: {info['test_carved']}")
    lines.append(f"  content sha256 {info['sha256']}")
    return lines
