"""The data options of `vaekit train`: where the examples come from and how they are read.

Part of the one declaration of every training option (vaekit.train_options): the source, how
image files are decoded, a table's columns, a WAV folder's spectrograms, the splits and what is
done to each batch on its way in.
"""

from __future__ import annotations

from vaekit.options import Flag, Float, Int, Names, Option, Source, Text

DATA_OPTIONS = [
    Option(
        "data",
        Source(),
        "fashion-mnist",
        "a dataset name (fashion-mnist, mnist, binarized-mnist, digits, cifar10, svhn, "
        "olivetti, celeba: see `vaekit data list`); a folder holding the four IDX files "
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
        "image_size",
        Int(least=1),
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
    Option(
        "columns",
        Names(),
        None,
        "for a table (.csv, .parquet): the columns to model, comma-separated. A column whose "
        "values are numbers is numeric (standardized with the training rows' mean and standard "
        "deviation, modelled by a Gaussian), any other categorical (modelled by a categorical); "
        "an empty cell or NA, NaN, null, ? is a missing value, left out of the likelihood "
        "(default: every column but --target and --id-column)",
        "data",
        section="data",
        optional=True,
        show_default=False,
    ),
    Option(
        "target",
        Text(),
        None,
        "for a table: the column holding each row's label (a class), used where images use "
        "theirs (eval's probe, anomaly --normal-labels, embed); never a feature. A column "
        "of fractional numbers, or with more classes than 5 in 100 rows (and than 20), is "
        "refused as unlikely to be a label, unless --target-is-label confirms it",
        "data",
        section="data",
        optional=True,
        metavar="COLUMN",
    ),
    Option(
        "target_is_label",
        Flag(),
        False,
        "for a table: take --target as a class label even where its values look like "
        "measurements (fractional numbers, or very many classes)",
        "data",
    ),
    Option(
        "id_column",
        Text(),
        None,
        "for a table: the column naming each row, written beside its scores and "
        "reconstructions; never a feature (default: the row number, from 0)",
        "data",
        section="data",
        optional=True,
        metavar="COLUMN",
        show_default=False,
    ),
    Option(
        "sample_rate",
        Int(least=1),
        None,
        "for a folder of .wav files (audio): the rate every recording is resampled to "
        "(band-limited, by the FFT); by default the rate most of the files have",
        "data",
        section="data",
        optional=True,
        metavar="HZ",
        show_default=False,
    ),
    Option(
        "clip_seconds",
        Float(positive=True, below=3600.0),
        None,
        "audio: the length every recording is fitted to: a longer one keeps its first S "
        "seconds, a shorter one is padded with silence at its end (default: 1.0)",
        "data",
        section="data",
        optional=True,
        metavar="S",
        show_default=False,
    ),
    Option(
        "n_fft",
        Int(least=2, most=1 << 16),
        None,
        "audio: the STFT's window and FFT size in samples (a Hann window; default: 512, 64 ms "
        "at 8 kHz, 32 ms at 16 kHz)",
        "data",
        section="data",
        optional=True,
        metavar="N",
        show_default=False,
    ),
    Option(
        "hop_length",
        Int(least=1),
        None,
        "audio: samples between STFT frames (default: 128); a clip has 1 + clip // hop frames",
        "data",
        section="data",
        optional=True,
        metavar="N",
        show_default=False,
    ),
    Option(
        "n_mels",
        Int(least=1, most=1024),
        None,
        "audio: mel bins of the log-mel spectrogram (HTK mel scale, 0 Hz to half the sample "
        "rate; default: 64)",
        "data",
        section="data",
        optional=True,
        metavar="M",
        show_default=False,
    ),
    Option(
        "label_pattern",
        Text(),
        None,
        "audio: a regular expression searched in each file name; its first group is the "
        "file's label (for the Free Spoken Digit Dataset's {digit}_{speaker}_{index}.wav: "
        "'^(\\d+)_'); without it the recordings are unlabelled",
        "data",
        section="data",
        optional=True,
        metavar="REGEX",
    ),
    Option(
        "test_pattern",
        Text(),
        None,
        "audio: the files whose name matches this regular expression are the test split "
        "(FSDD's official one, index 0-4: '_[0-4]\\.wav$'); without it a random tenth, "
        "carved with the seed",
        "data",
        section="data",
        optional=True,
        metavar="REGEX",
    ),
    Option(
        "val_fraction",
        Float(below=1.0),
        0.1,
        "share of the training split held out for validation, carved with the seed; "
        "0 trains on all of it; ignored where the data has an official validation split",
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
]
