"""The options of `vaekit train` particular to image files (folders of PNG/JPEG,
CelebA) and their pixels.

Part of the one declaration of every training option (vaekit.train_options), which puts each
kind's options (vaekit.kinds.base.Kind.options) after the data source's.
"""

from __future__ import annotations

from vaekit.options import Int, Option, Text

# The values this kind gives `vaekit train`'s options in place of their defaults (its model
# part's DEFAULTS; kept here, beside its options, so that `vaekit train --help` shows them).
DEFAULTS: dict[str, object] = {}
# The largest --image-size: a side of S pixels costs S * S * 3 bytes an image, for every image
# of the folder (and a prepared folder is kept as one array).
MAX_IMAGE_SIZE = 1024

OPTIONS = [
    Option(
        "image_size",
        Int(least=1, most=MAX_IMAGE_SIZE),
        None,
        "for image files (folders, CelebA): crop each to its centre square and resize it "
        "to S x S; without it, a folder's images must share one size (CelebA: 64)",
        "data",
        section="data",
        optional=True,
        metavar="S",
        show_default=False,
    ),
    Option(
        "color",
        Text(("auto", "gray", "rgb")),
        "auto",
        "decode image files as grayscale or RGB (auto: RGB if any has color)",
        "data",
        section="data",
    ),
    Option(
        "crop",
        Text(("center", "none")),
        "center",
        "with --image-size: crop each image's centre square before resizing, or resize "
        "the whole image, changing its aspect",
        "data",
        section="data",
    ),
    Option(
        "pixels",
        Text(("binary", "8-bit", "discrete", "continuous")),
        None,
        "what the pixel values are, which decides whether a likelihood's number is a "
        "log-likelihood (and bits/dim) or only an objective: binary (0/1 or 0/max), 8-bit "
        "(256 levels), discrete (integers 0..max), continuous (floats); by default each data "
        "source declares its own (binarized-mnist binary, digits discrete, images 8-bit, "
        "float arrays continuous)",
        "data",
        section="data",
        optional=True,
        show_default=False,
    ),
]
