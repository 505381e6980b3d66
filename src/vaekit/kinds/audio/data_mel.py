"""Log-mel spectrograms of fixed-length clips, and the way back to sound.

Features, per clip of `clip_samples` (data_wav.py reads and fits them):
- the power spectrogram |STFT|^2: periodic Hann window of n_fft samples, hop `hop` samples,
  frames centred (padded by reflection), T = 1 + clip_samples // hop frames;
- an HTK mel filter bank (Young et al., The HTK Book: mel = 2595 log10(1 + f / 700)):
  `mels` triangles with peak 1, their edges and centres equally spaced in mel from 0 Hz to
  the Nyquist frequency, evaluated at the FFT bins' frequencies;
- 10 log10(mel power), floored at FLOOR_DB (silence, and the padding, is FLOOR_DB);
- standardized per mel bin with the training split's mean and standard deviation (the run
  keeps them, model.schema, so that outputs come back in dB).

Back to sound: dB -> mel power -> linear power by non-negative least squares against the
filter bank (multiplicative updates) -> magnitude -> phase by Griffin-Lim (Griffin & Lim 1984)
with the momentum of "fast Griffin-Lim" (Perraudin et al. 2013).

Shapes: N clips, L samples per clip, F = n_fft // 2 + 1 frequency bins, M mel bins, T frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vaekit.errors import VaekitError
from vaekit.kinds.audio.data_wav import fit_clip, read_wav, resample

FLOOR_DB = -80.0  # 10 log10 of the smallest mel power kept (samples in [-1, 1))
DEFAULTS = {"clip_seconds": 1.0, "n_fft": 512, "hop_length": 128, "n_mels": 64}
GRIFFIN_LIM_ITERS = 64  # what the commands and the report run (see README, Audio)


def hz_to_mel(f: torch.Tensor | float) -> torch.Tensor:
    """HTK's mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(f, dtype=torch.float64) / 700.0)


def mel_to_hz(m: torch.Tensor | float) -> torch.Tensor:
    return 700.0 * (10.0 ** (torch.as_tensor(m, dtype=torch.float64) / 2595.0) - 1.0)


def mel_filterbank(n_fft: int, rate: int, mels: int) -> torch.Tensor:
    """HTK triangles (M, F), float32: filter m rises from edge m to its centre m + 1 and falls
    to edge m + 2, the M + 2 edges equally spaced in mel from 0 Hz to rate / 2; peak 1."""
    edges = mel_to_hz(torch.linspace(0.0, float(hz_to_mel(rate / 2)), mels + 2))
    freqs = torch.linspace(0.0, rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).to(torch.float32)


def mel_to_linear(mel: torch.Tensor, bank: torch.Tensor, iters: int = 100) -> torch.Tensor:
    """Non-negative linear power spectra P (N, F, T) with bank @ P close to `mel` (N, M, T):
    least squares under P >= 0 by Lee & Seung's multiplicative updates (2001), from
    P = bank^T mel. (The pseudo-inverse alone leaves about 40% of the bins negative, and
    clipping them costs ~10 dB of the mel spectrum; these updates stay within ~3 dB.)"""
    n, m, t = mel.shape
    columns = mel.permute(1, 0, 2).reshape(m, n * t)  # (M, N*T): one matrix product a step
    target = bank.T @ columns
    power = target.clone()
    tiny = torch.finfo(mel.dtype).tiny
    for _ in range(iters):  # bank^T (bank P): two thin products, cheaper than the Gram's
        power = power * target / (bank.T @ (bank @ power) + tiny)
    return power.reshape(-1, n, t).permute(1, 0, 2)


def power_spectrogram(clips: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """|STFT|^2 of clips (N, L): (N, F, T), periodic Hann window, centred frames."""
    window = torch.hann_window(n_fft, dtype=clips.dtype, device=clips.device)
    spec = torch.stft(clips, n_fft, hop, window=window, center=True, return_complex=True)
    return spec.abs().square()


def griffin_lim(
    magnitude: torch.Tensor,
    n_fft: int,
    hop: int,
    length: int,
    iters: int = 64,
    momentum: float = 0.99,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Waveforms (N, L) whose STFT magnitude approaches `magnitude` (N, F, T): alternate
    projections (keep the phase of the STFT of the last estimate, impose the magnitude) from
    random phases, with fast Griffin-Lim's momentum (Perraudin et al. 2013)."""
    window = torch.hann_window(n_fft, dtype=magnitude.dtype, device=magnitude.device)
    phase = torch.rand(magnitude.shape, generator=generator, dtype=magnitude.dtype)
    angles = torch.polar(torch.ones_like(magnitude), 2 * math.pi * phase.to(magnitude.device))
    previous = torch.zeros_like(angles)
    for _ in range(iters):
        wave_ = torch.istft(magnitude * angles, n_fft, hop, window=window, length=length)
        rebuilt = torch.stft(wave_, n_fft, hop, window=window, return_complex=True)
        accelerated = rebuilt - (momentum / (1 + momentum)) * previous
        angles = accelerated / accelerated.abs().clamp_min(1e-12)
        previous = rebuilt
    return torch.istft(magnitude * angles, n_fft, hop, window=window, length=length)


def spectral_convergence(clips: torch.Tensor, magnitude: torch.Tensor, n_fft: int, hop: int):
    """|| |STFT(clips)| - magnitude ||_F / || magnitude ||_F per clip (N,): 0 when the clips'
    magnitudes are exactly the target's."""
    got = power_spectrogram(clips, n_fft, hop).sqrt()
    return (got - magnitude).flatten(1).norm(dim=1) / magnitude.flatten(1).norm(dim=1)


@dataclass(frozen=True)
class AudioFeatures:
    """How a model's clips are made and unmade: the spectrogram settings and the per-mel-bin
    standardization statistics of the training split (mean, std in dB, (M,)); the JSON of
    model.schema. `classes` names the labels (from --label-pattern), or is None."""

    sample_rate: int
    clip_seconds: float
    n_fft: int
    hop_length: int
    n_mels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...] | None = None

    @property
    def clip_samples(self) -> int:
        return round(self.clip_seconds * self.sample_rate)

    @property
    def frames(self) -> int:
        return 1 + self.clip_samples // self.hop_length

    @property
    def shape(self) -> tuple[int, int, int]:
        """The model's input (C, H, W) = (1, M, T)."""
        return (1, self.n_mels, self.frames)

    def to_json(self) -> dict[str, Any]:
        return {
            "sample_rate": self.sample_rate,
            "clip_seconds": self.clip_seconds,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "n_mels": self.n_mels,
            "mean": list(self.mean),
            "std": list(self.std),
            "classes": None if self.classes is None else list(self.classes),
        }

    @classmethod
    def from_json(cls, record: Any, where: str = "config.json: model.schema") -> AudioFeatures:
        """Checked: every key present and of its type, sizes positive, statistics per bin."""
        keys = ("sample_rate", "clip_seconds", "n_fft", "hop_length", "n_mels", "mean", "std")
        if not isinstance(record, dict) or set(record) != {*keys, "classes"}:
            raise VaekitError(f"{where}: expected the keys {', '.join(keys)}, classes")
        ints = [record[k] for k in ("sample_rate", "n_fft", "hop_length", "n_mels")]
        if any(type(v) is not int or v < 1 for v in ints):
            raise VaekitError(f"{where}: sample_rate, n_fft, hop_length, n_mels: positive ints")
        seconds = record["clip_seconds"]
        if type(seconds) not in (int, float) or not 0 < seconds < 3600:
            raise VaekitError(f"{where}: clip_seconds must be in (0, 3600) seconds")
        stats = [record["mean"], record["std"]]
        if (
            any(
                not isinstance(s, list)
                or len(s) != record["n_mels"]
                or not all(type(v) in (int, float) and math.isfinite(v) for v in s)
                for s in stats
            )
            or min(record["std"]) <= 0
        ):
            raise VaekitError(f"{where}: mean and std: n_mels finite numbers, std positive")
        classes = record["classes"]
        if classes is not None and not (
            isinstance(classes, list) and all(isinstance(c, str) for c in classes)
        ):
            raise VaekitError(f"{where}: classes must be a list of names or null")
        return cls(
            record["sample_rate"], float(seconds), record["n_fft"], record["hop_length"],
            record["n_mels"], tuple(map(float, record["mean"])), tuple(map(float, record["std"])),
            None if classes is None else tuple(classes),
        )  # fmt: skip

    def read(self, path: str | Path) -> torch.Tensor:
        """A WAV file as the model's input (1, 1, M, T): resampled to the model's rate,
        fitted to its clip length, standardized with its statistics."""
        samples, rate = read_wav(path)
        clip = fit_clip(resample(samples, rate, self.sample_rate), self.clip_samples)
        return self.encode(torch.from_numpy(clip)[None])

    def filterbank(self) -> torch.Tensor:
        return mel_filterbank(self.n_fft, self.sample_rate, self.n_mels)

    def decibels(self, clips: torch.Tensor) -> torch.Tensor:
        """Clips (N, L) -> log-mel spectrograms (N, 1, M, T) in dB, floored at FLOOR_DB."""
        power = power_spectrogram(clips.to(torch.float32), self.n_fft, self.hop_length)
        mel = torch.einsum("mf,nft->nmt", self.filterbank(), power)
        return (10 * torch.log10(mel.clamp_min(10 ** (FLOOR_DB / 10))))[:, None]

    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.tensor(self.mean, dtype=like.dtype, device=like.device)[:, None]
        std = torch.tensor(self.std, dtype=like.dtype, device=like.device)[:, None]
        return mean, std

    def standardize(self, db: torch.Tensor) -> torch.Tensor:
        """dB (N, 1, M, T) -> the model's units: (dB - mean) / std per mel bin."""
        mean, std = self._stats(db)
        return (db - mean) / std

    def to_decibels(self, x: Any) -> torch.Tensor:
        """The model's units (N, 1, M, T) (or (N, M, T); a NumPy array too) -> dB: standardize
        undone."""
        x = self._spectrograms(x)
        mean, std = self._stats(x)
        return x * std + mean

    def encode(self, clips: Any) -> torch.Tensor:
        """Clips (N, L) of clip_samples samples in [-1, 1] (one clip (L,); a NumPy array too)
        -> the model's inputs (N, 1, M, T). Integer PCM is refused: 16-bit samples taken as
        they are were 90 dB too loud, and scored without a word."""
        t = torch.as_tensor(clips)
        t = t.reshape(1, -1) if t.dim() == 1 else t
        if not t.is_floating_point():
            raise VaekitError(
                f"clips are samples in [-1, 1], got {t.dtype}: divide 16-bit PCM by 32768 "
                "(or read a WAV file with model.schema.read)"
            )
        if t.dim() != 2 or t.shape[1] != self.clip_samples:
            raise VaekitError(
                f"expected clips (N, {self.clip_samples}): {self.clip_seconds:g} s at "
                f"{self.sample_rate} Hz, the model's; got {tuple(t.shape)} (fit_clip cuts or "
                "pads one)"
            )
        return self.standardize(self.decibels(t))

    def _spectrograms(self, x: Any) -> torch.Tensor:
        """x as the model's inputs (N, 1, M, T), or a one-line VaekitError."""
        t = torch.as_tensor(x)
        t = t[:, None] if t.dim() == 3 else t
        if t.dim() != 4 or tuple(t.shape[1:]) != self.shape or not t.is_floating_point():
            raise VaekitError(f"expected spectrograms (N, {', '.join(map(str, self.shape))}) in "
                              f"the model's units, got {tuple(t.shape)} {t.dtype}")  # fmt: skip
        return t

    def to_clips(
        self,
        x: torch.Tensor,
        iters: int = GRIFFIN_LIM_ITERS,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The model's units (N, 1, M, T) -> clips (N, L) in [-1, 1]: dB to mel power, linear
        power by non-negative least squares (`mel_to_linear`), Griffin-Lim's phase."""
        x = self._spectrograms(x).detach().to("cpu", torch.float32)
        mel = 10 ** (self.to_decibels(x)[:, 0] / 10)  # (N, M, T)
        power = mel_to_linear(mel, self.filterbank())
        clips = griffin_lim(power.sqrt(), self.n_fft, self.hop_length, self.clip_samples, iters,
                            generator=generator)  # fmt: skip
        return clips.clamp(-1.0, 1.0)

    def picture(self, x: torch.Tensor) -> torch.Tensor:
        """Spectrograms in the model's units (N, 1, M, T) -> pictures in [0, 1] for a grid:
        FLOOR_DB black to the loudest bin of the batch white, low frequencies at the bottom."""
        db = self.to_decibels(x.detach().cpu().float())
        top = max(float(db.max()), FLOOR_DB + 1.0)
        return ((db - FLOOR_DB) / (top - FLOOR_DB)).clamp(0, 1).flip(2)


def fit_features(
    clips: torch.Tensor, train_rows: torch.Tensor, rate: int, settings: dict[str, Any],
    classes: list[str] | None,
) -> tuple[AudioFeatures, torch.Tensor]:  # fmt: skip
    """The features of `clips` (N, L) with statistics of the rows `train_rows`, per mel bin
    over those clips and their frames. Returns (the features, the clips' dB (N, 1, M, T))."""
    probe = AudioFeatures(rate, settings["clip_seconds"], settings["n_fft"],
                          settings["hop_length"], settings["n_mels"], (0.0,), (1.0,))  # fmt: skip
    empty = (probe.filterbank().sum(dim=1) == 0).nonzero()
    if len(empty):
        raise VaekitError(
            f"--n-mels {settings['n_mels']}: mel bin {int(empty[0])} falls between the FFT's "
            f"bins at {rate} Hz; lower --n-mels or raise --n-fft"
        )
    db = decibels_in_chunks(probe, clips)
    part = db[train_rows][:, 0]  # (N_train, M, T)
    mean = part.double().mean(dim=(0, 2))
    std = part.double().std(dim=(0, 2), unbiased=False).clamp_min(1e-3)
    features = AudioFeatures(
        rate, float(settings["clip_seconds"]), settings["n_fft"], settings["hop_length"],
        settings["n_mels"], tuple(mean.tolist()), tuple(std.tolist()),
        None if classes is None else tuple(classes),
    )  # fmt: skip
    return features, db


def decibels_in_chunks(features: AudioFeatures, clips: torch.Tensor) -> torch.Tensor:
    """`features.decibels` over (N, L) clips, 256 at a time (the STFT's memory stays small)."""
    return torch.cat([features.decibels(clips[i : i + 256]) for i in range(0, len(clips), 256)])


def check_settings(settings: dict[str, Any]) -> None:
    """The spectrogram settings fit together: the FFT is at least 2 samples and the hop no
    longer than it (no sample left out of every frame)."""
    if settings["n_fft"] < 2:
        raise VaekitError(f"--n-fft must be at least 2, got {settings['n_fft']}")
    if settings["hop_length"] > settings["n_fft"]:
        raise VaekitError(
            f"--hop-length {settings['hop_length']} is longer than --n-fft {settings['n_fft']}: "
            "samples between frames would be lost"
        )
