"""The report's sections that every kind of data shares: the KL per latent dimension and the
latent map (a plane through the test split's posterior means). Each kind's render part places
them among its own sections (`report_sections`, vaekit.kinds.protocol).

Each builder takes a `RunView` and returns HTML, or raises VaekitError saying why the model
or the run cannot have that picture. Every draw is seeded with the run's seed; the latent
tools are the apps' own (`vaekit.apps.latent`, `vaekit.apps.projection`).
"""

from __future__ import annotations

from functools import partial

import torch

from vaekit.apps import latent
from vaekit.apps.projection import PLANE_MIN_POINTS, TSNE_MIN_POINTS, fit_plane, tsne
from vaekit.data.batches import seeded_subset
from vaekit.errors import VaekitError
from vaekit.models.posterior import posterior_moments_of
from vaekit.report.html import caption, image
from vaekit.report.images import data_uri
from vaekit.report.plots import kl_bars_png, latent_map_png
from vaekit.report.view import Builder, RunView

KL_EXAMPLES = 1000  # test images the KL per dimension is averaged over (as `traverse` does)
MAP_POINTS = 2000  # posterior means on the latent map


def shared_sections(map_method: str) -> list[tuple[str, Builder]]:
    """(title, builder) of the sections every kind shows, in page order: the KL per latent
    dimension, then the latent map drawn by `map_method` ("auto", "pca" or "tsne")."""
    return [
        ("KL per latent dimension", kl_section),
        ("Latent map", partial(map_section, method=map_method)),
    ]


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


def kl_section(run: RunView) -> str:
    kl = kl_per_dim(run)
    n = min(len(run.need_test()), KL_EXAMPLES)
    active = int((kl > 0.01).sum())
    ranked = sorted(range(len(kl)), key=lambda d: -float(kl[d]))[:10]
    largest = ", ".join(f"z{d} {float(kl[d]):.3f}" for d in ranked)
    text = (
        f"mean KL(q(z_i|x) || p(z_i)) over the first {n} test examples, nats, bar i for z_i; "
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
    text = f"{len(means)} test examples{coloured}: {how}"
    return image(data_uri(png), "latent map", pixels=False) + caption(text)
