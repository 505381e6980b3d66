"""The options of `vaekit train` particular to audio (a folder of .wav files):
the clips and their log-mel spectrograms.

Part of the one declaration of every training option (vaekit.train_options), which puts each
kind's options (vaekit.kinds.base.Kind.options) after the data source's.
"""

from __future__ import annotations

from vaekit.options import Float, Int, Option, Text

# The values this kind gives `vaekit train`'s options in place of their defaults (its model
# part's DEFAULTS; kept here, beside its options, so that `vaekit train --help` shows them).
DEFAULTS: dict[str, object] = {
    "likelihood": "gaussian",
    "gaussian_variance": "global",
    "gaussian_std": 1.0,
}

OPTIONS = [
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
]
