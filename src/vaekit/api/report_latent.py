"""The report's pictures from the model: samples, reconstructions, interpolations, a latent
traversal, the KL per latent dimension, the latent map and the manifold of a 2-D latent space.

Each builder takes a `RunView` and returns HTML, or raises VaekitError saying why the model
or the run cannot have that picture. Every draw is seeded with the run's seed; the latent
tools are the apps' own (`vaekit.apps.latent`, `vaekit.apps.projection`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import torch

from vaekit.api.model import reconstruct_first
from vaekit.apps import latent
from vaekit.apps.projection import (
    PLANE_MIN_POINTS,
    TSNE_MIN_POINTS,
    fit_plane,
    manifold_latents,
    tsne,
)
from vaekit.data.batches import seeded_subset
from vaekit.errors import VaekitError
from vaekit.models.posterior import posterior_moments_of
from vaekit.report.html import caption, image, table
from vaekit.report.images import data_uri, pairs_grid, png_bytes
from vaekit.report.plots import kl_bars_png, latent_map_png

if TYPE_CHECKING:
    from vaekit.api.report_view import RunView

KL_EXAMPLES = 1000  # test images the KL per dimension is averaged over (as `traverse` does)
MAP_POINTS = 2000  # posterior means on the latent map
TRAVERSE_DIMS = 10
MANIFOLD_STEPS = 15


def picture_sections(run: RunView, map_method: str) -> list[tuple[str, Callable[[RunView], str]]]:
    """(title, builder) of each picture, in page order; the manifold for a 2-D latent space.
    A table's rows are no pictures: its samples and reconstructions are shown as tables, and
    the pictures of images (interpolation strips, traversals, the manifold) are left out."""
    if run.model.audio is not None:  # spectrograms and sounds (vaekit.api.report_audio)
        from vaekit.api import report_audio

        return [
            ("Samples", report_audio.samples_section),
            ("Reconstructions", report_audio.reconstructions_section),
            ("KL per latent dimension", kl_section),
            ("Latent map", partial(map_section, method=map_method)),
        ]
    if run.model.vocab is not None:  # sentences, not pictures: vaekit.api.report_text
        from vaekit.api import report_text

        return [
            ("Sample sentences", report_text.samples_section),
            ("Reconstructions", report_text.reconstructions_section),
            ("Interpolation", report_text.interpolation_section),
            ("KL per latent dimension", kl_section),
            ("Latent map", partial(map_section, method=map_method)),
        ]
    if run.model.table is not None:
        return [
            ("Samples", table_samples_section),
            ("Reconstructions", table_reconstructions_section),
            ("KL per latent dimension", kl_section),
            ("Latent map", partial(map_section, method=map_method)),
        ]
    sections = [
        ("Samples", samples_section),
        ("Reconstructions", reconstructions_section),
        ("Interpolation", interpolation_section),
        ("Latent traversal", traversal_section),
        ("KL per latent dimension", kl_section),
        ("Latent map", partial(map_section, method=map_method)),
    ]
    if run.model.latent_dim == 2:
        sections.append(("Manifold", manifold_section))
    return sections


def samples_section(run: RunView) -> str:
    model = run.model
    label = torch.arange(64) // 8 % model.num_classes if model.num_classes else None
    images = model.sample(64, seed=run.seed, label=label)
    given = "; row r is class r mod the number of classes" if model.num_classes else ""
    text = f"64 images decoded from prior samples (seed {run.seed}){given}"
    return image(data_uri(png_bytes(images, 8)), "samples") + caption(text)


def table_samples_section(run: RunView, count: int = 10) -> str:
    schema = run.model.table
    assert schema is not None
    rows = run.model.sample(count, seed=run.seed)
    text = f"{count} rows decoded from prior samples (seed {run.seed}), in the table's units"
    return table(schema.names, schema.decode(rows.reshape(count, -1).numpy())) + caption(text)


def table_reconstructions_section(run: RunView, count: int = 10) -> str:
    schema = run.model.table
    assert schema is not None
    test = run.need_test()
    rows = test.subset(torch.arange(min(count, len(test))))
    x = rows.images
    given = schema.decode(x.reshape(len(x), -1).numpy())
    made = schema.decode(run.model.reconstruct(x).reshape(len(x), -1).numpy())
    header = [schema.id_column or "row", "", *schema.names]
    lines = []
    for row_id, a, b in zip(rows.ids or [], given, made, strict=True):
        lines += [[row_id, "input", *a], ["", "reconstruction", *b]]
    text = f"the first {len(x)} test rows above their posterior-mean reconstructions"
    return table(header, lines) + caption(text)


def reconstructions_section(run: RunView) -> str:
    inputs, outputs = reconstruct_first(run.model, run.need_test(), 16)
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


def kl_per_dim(run: RunView) -> torch.Tensor:
    """The mean KL of each latent dimension over the first test images: (Z,). Closed form
    for one Gaussian layer under a Gaussian prior; for a hierarchy, each layer's closed form
    given one posterior sample of the layers above."""
    if "kl" not in run.cache:
        vae = run.model.vae
        if not vae.has_kl_per_dim:
            raise VaekitError(
                f"the {run.model.config.prior} prior has no closed-form KL per dimension: its "
                "KL is estimated from samples as a whole"
            )
        test = run.need_test()
        part = test.subset(torch.arange(min(len(test), KL_EXAMPLES)))
        generator = torch.Generator(run.model.device).manual_seed(run.seed)
        run.cache["kl"] = latent.kl_per_dimension_of(vae, part, generator)
    return run.cache["kl"]


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


def kl_section(run: RunView) -> str:
    kl = kl_per_dim(run)
    n = min(len(run.need_test()), KL_EXAMPLES)
    active = int((kl > 0.01).sum())
    ranked = sorted(range(len(kl)), key=lambda d: -float(kl[d]))[:10]
    largest = ", ".join(f"z{d} {float(kl[d]):.2f}" for d in ranked)
    text = (
        f"mean KL(q(z_i|x) || p(z_i)) over the first {n} test images, nats, bar i for z_i; "
        f"{active} of {len(kl)} dimensions carry more than 0.01 nats, the rest are near the "
        f"prior; the largest: {largest}"
    )
    layers = run.model.vae.layer_sizes
    return image(data_uri(kl_bars_png(kl.tolist(), layers)), "KL per dimension", False) + caption(
        text
    )


def map_points(run: RunView) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Posterior means (N, Z) of a seeded subset of the test split, and their labels (N,)."""
    if "means" not in run.cache:
        run.model.require_unconditional("the latent map")
        test = run.need_test()
        if len(test) > MAP_POINTS:
            test = test.subset(seeded_subset(len(test), MAP_POINTS, run.seed))
        means = posterior_moments_of(run.model.vae, test)[0]
        run.cache["means"] = (means, test.labels)
    return run.cache["means"]


def map_too_small(points: int, method: str) -> str | None:
    """Why `points` test examples are too few for a latent map drawn by `method`, or None:
    a plane needs 2 points, t-SNE 5."""
    least = TSNE_MIN_POINTS if method == "tsne" else PLANE_MIN_POINTS
    if points >= least:
        return None
    name = "a t-SNE map" if method == "tsne" else "a latent map"
    return f"{name} needs at least {least} test examples; the test split has {points}"


def map_section(run: RunView, method: str = "auto") -> str:
    means, labels = map_points(run)
    z = means.shape[1]
    if z < 2:
        raise VaekitError("the latent space has one dimension: there is no plane to map")
    too_small = map_too_small(len(means), method)
    if too_small:
        raise VaekitError(too_small)
    if method == "tsne":
        points, axes = tsne(means, run.seed), ("t-SNE 1", "t-SNE 2")
        how = "t-SNE of the posterior means (distances on it are not latent distances)"
    elif z == 2 and method == "auto":
        points, axes, how = means, ("z0", "z1"), "the posterior means themselves (Z = 2)"
    else:
        plane = fit_plane(means)
        points, axes = plane.to_plane(means.double()), plane.axes
        share = sum(plane.explained)
        how = f"the posterior means' first two principal components ({share:.0%} of their variance)"
    label_array = labels.numpy() if labels is not None else None
    names = run.model.class_names
    png = latent_map_png(points.numpy(), label_array, axes, class_names=names)
    coloured = ""
    if labels is not None:
        coloured = ", coloured by class" if names else ", coloured by label"
    text = f"{len(means)} test images{coloured}: {how}"
    return image(data_uri(png), "latent map", pixels=False) + caption(text)


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
