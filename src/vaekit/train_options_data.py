"""The data options of `vaekit train`: where the examples come from and how they are read.

Part of the one declaration of every training option (vaekit.train_options): the source, how
image files are decoded, a table's columns, a WAV folder's spectrograms, the splits and what is
done to each batch on its way in.
"""

from __future__ import annotations

from typing import Any

from vaekit.kinds.base import kind_names
from vaekit.options import Flag, Float, Kind, Option, Source, Text


class KindName(Kind):
    """A kind of data's name (--kind). The choices are read from the kind registry
    (vaekit.kinds.base) each time they are asked for, so that a kind an installed package adds
    is one of them, and no list is kept here."""

    @property
    def choices(self) -> tuple[str, ...]:
        return kind_names()

    def check(self, value: Any) -> str:
        return Text(self.choices).check(value)


DATA_OPTIONS = [
    Option(
        "data",
        Source(),
        "fashion-mnist",
        "a dataset name (fashion-mnist, mnist, binarized-mnist, digits, cifar10, svhn, "
        "olivetti, celeba, dsprites: see `vaekit data list`); a folder holding the four IDX files "
        "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte, plain or .gz), CIFAR-10 batches, SVHN .mat files, a prepared "
        "dataset, or PNG/JPEG images (subfolder names = labels); a table, a .csv or .parquet "
        "file with a header row (see --columns and the options after it); a folder of .wav "
        "recordings (audio: see --clip-seconds and the options after it); a .txt file of text, "
        "one example a line (see --vocab-size and the options after it); or a .npy/.npz file "
        "of images",
        "data",
        section="data",
        key="name",
        resumable=True,  # data that has moved; its checksum must match the recorded one
        metavar="NAME|PATH",
    ),
    Option(
        "val_fraction",
        Float(below=1.0),
        0.1,
        "share of the training split held out for validation, carved with the seed; "
        "0 trains on all of it; ignored where the data holds out its own: an official "
        "validation split, or a time series' end of its training part, a tenth of it",
        "data",
        section="training",
        metavar="F",
    ),
    Option(
        "train_noise",
        Text(),
        None,
        "train a denoising VAE: corrupt each batch on the way in (gaussian:0.3, "
        "saltpepper:0.1 or mask:0.25) and score the reconstruction against the clean images",
        "data",
        section="training",
        optional=True,
        metavar="KIND:AMOUNT",
    ),
    Option(
        "binarize",
        Flag(),
        False,
        "dynamic binarization: train on a fresh Bernoulli draw of the pixel intensities "
        "each batch; validation and test use one draw made with the seed",
        "data",
        section="training",
    ),
    Option(
        "kind",
        KindName(),
        None,
        "the kind of data the source holds, by default recognized from it; say --kind series "
        "for a .npy of series (series, time, channels); recorded in config.json's data section "
        "so that the run's commands read it alike",
        "data",
        optional=True,
        show_default=False,
    ),
]
