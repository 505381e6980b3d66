"""Folders of WAV recordings: reading and writing 16-bit PCM WAV, listing a folder, resampling,
fitting recordings to one length, labels and the test split from file names.

Reading: 16-bit PCM WAV through the standard library's `wave`; several channels are averaged
to mono; samples are scaled to [-1, 1) (divided by 32768). A folder's files at another rate
than the chosen one are resampled band-limited, by the FFT (the spectrum cut or zero-padded
to the new rate's bins, as scipy.signal.resample does). A clip of `length` samples keeps a
longer recording's start and pads a shorter one with silence at its end. The spectrograms
made of the clips, and the way back to sound: data_mel.py.
"""

from __future__ import annotations

import io
import re
import wave
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from vaekit.errors import VaekitError
from vaekit.files import atomic_write, files_under

SUFFIX = ".wav"
FULL_SCALE = 32768.0  # 16-bit samples / FULL_SCALE are in [-1, 1)


# The lowest sample rate read: below it a header is damaged (or no audio), and resampling
# to the model's rate would multiply the file's samples by thousands.
MIN_RATE = 100
# The highest: above it a header is damaged (4,000,000,000 Hz made a clip of 0.00 s).
MAX_RATE = 768_000


# A data chunk's size that streaming writers (ffmpeg to a pipe, arecord) leave in the header,
# not knowing the length: the frames are whatever the file holds.
STREAMING_SIZE = 0xFFFFFFFF
# The WAVE_FORMAT_EXTENSIBLE header many tools write for plain PCM (Python 3.11's `wave`
# does not read it; 3.12's reads PCM in it, and says "unknown extended format" of float),
# and the tags of the formats named in its refusal.
EXTENSIBLE, PCM, FLOAT = 0xFFFE, 1, 3


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """A 16-bit PCM WAV file as (mono samples (L,) float32 in [-1, 1), sample rate)."""
    try:
        with wave.open(str(path), "rb") as f:
            width, channels, rate = f.getsampwidth(), f.getnchannels(), f.getframerate()
            frames = f.getnframes()
            raw = f.readframes(frames)
    except wave.Error as err:
        known = (f"unknown format: {EXTENSIBLE}", f"unknown format: {FLOAT}")
        if str(err) not in known and not str(err).startswith("unknown extended format"):
            raise VaekitError(f"{path}: not a readable PCM WAV file ({err})") from None
        width, channels, rate, raw = _read_tagged(Path(path))
        frames = len(raw) // max(width * channels, 1)
    except (EOFError, OSError) as err:  # EOFError carries no message
        why = str(err) or ("an empty file" if _is_empty(path) else "cut short")
        raise VaekitError(f"{path}: not a readable PCM WAV file ({why})") from None
    if frames == STREAMING_SIZE // max(width * channels, 1):  # no length known when written
        frames = len(raw) // max(width * channels, 1)
    if not MIN_RATE <= rate <= MAX_RATE:  # 0 Hz: nothing to resample from; 1 Hz: a second
        raise VaekitError(  # of it is 16,000 samples; 4 GHz: a damaged header
            f"{path}: not a readable PCM WAV file (its sample rate is {rate:,} Hz; vaekit "
            f"reads audio of {MIN_RATE} to {MAX_RATE:,} Hz)"
        )
    if frames == 0:  # a header and no sound: nothing to train on or to reconstruct
        raise VaekitError(f"{path}: not a readable PCM WAV file (it holds no samples)")
    if len(raw) < frames * width * channels:  # the wave module reads what is there, silently
        raise VaekitError(
            f"{path}: cut short: its header declares {frames} frames, the file holds "
            f"{len(raw) // max(width * channels, 1)}"
        )
    if width != 2:
        raise VaekitError(
            f"{path}: {8 * width}-bit samples; vaekit reads 16-bit PCM WAV (convert it, e.g. "
            "sox in.wav -b 16 out.wav)"
        )
    samples = np.frombuffer(raw, dtype="<i2")
    samples = samples[: len(samples) // channels * channels].reshape(-1, channels)
    return (samples.astype(np.float32).mean(axis=1) / FULL_SCALE).astype(np.float32), rate


def _read_tagged(path: Path) -> tuple[int, int, int, bytes]:
    """(sample width, channels, rate, the data chunk's bytes) of a WAV file whose format
    `wave` does not read: PCM in an extensible header is read; float samples are refused
    saying what they are."""
    data = path.read_bytes()
    fmt, raw, at = None, b"", 12
    while at + 8 <= len(data) and data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        name, size = data[at : at + 4], int.from_bytes(data[at + 4 : at + 8], "little")
        body = data[at + 8 : at + 8 + size]
        if name == b"fmt ":
            fmt = body
        elif name == b"data":
            raw = body
        at += 8 + size + size % 2  # chunks are padded to an even length
    fmt = fmt or b""
    tag, channels = int.from_bytes(fmt[0:2], "little"), int.from_bytes(fmt[2:4], "little")
    rate, bits = int.from_bytes(fmt[4:8], "little"), int.from_bytes(fmt[14:16], "little")
    if len(fmt) < 16 or channels < 1 or bits < 8 or bits % 8:
        raise VaekitError(f"{path}: not a readable PCM WAV file (no or a damaged format chunk)")
    if tag == EXTENSIBLE and len(fmt) >= 26:
        tag = int.from_bytes(fmt[24:26], "little")  # the subformat's first two bytes
    if tag != PCM:
        what = f"{bits}-bit float" if tag == FLOAT else f"format {tag}"
        raise VaekitError(f"{path}: {what} samples; vaekit reads 16-bit PCM WAV (convert it, "
                          "e.g. sox in.wav -b 16 -e signed-integer out.wav)")  # fmt: skip
    return bits // 8, channels, rate, raw


def _is_empty(path: str | Path) -> bool:
    try:
        return Path(path).stat().st_size == 0
    except OSError:
        return False


def wav_bytes(samples: np.ndarray | torch.Tensor, rate: int) -> bytes:
    """Mono samples (L,) in [-1, 1] (clipped to it) as the bytes of a 16-bit PCM WAV file."""
    a = np.asarray(samples, dtype=np.float64).reshape(-1)
    pcm = np.clip(np.round(a * FULL_SCALE), -FULL_SCALE, FULL_SCALE - 1).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(int(rate))
        f.writeframes(pcm.tobytes())
    return out.getvalue()


def write_wav(path: str | Path, samples: np.ndarray | torch.Tensor, rate: int) -> None:
    """Write mono samples (L,) in [-1, 1] (clipped to it) as a 16-bit PCM WAV file."""
    data = wav_bytes(samples, rate)
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def list_wavs(folder: Path) -> list[str]:
    """The .wav files under `folder` (subfolders too), as sorted relative POSIX paths; not
    hidden ones, nor those in hidden folders (a Mac's ._ files, a .trash)."""
    return sorted(
        p.relative_to(folder).as_posix()
        for p in files_under(folder)
        if p.suffix.lower() == SUFFIX and p.is_file()
    )


def is_audio_folder(folder: Path) -> bool:
    """Whether a folder holds .wav files (at any depth, not hidden)."""
    return any(p.suffix.lower() == SUFFIX for p in files_under(folder))


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited resampling by the FFT: the spectrum of `samples` (L,) at `rate` cut (or
    zero-padded) to the bins of round(L * target / rate) samples at `target`."""
    if rate == target or len(samples) == 0:
        return samples
    n = max(1, round(len(samples) * target / rate))
    spectrum = np.fft.rfft(samples.astype(np.float64))
    kept = np.zeros(n // 2 + 1, dtype=complex)
    count = min(len(kept), len(spectrum))
    kept[:count] = spectrum[:count]
    return (np.fft.irfft(kept, n) * (n / len(samples))).astype(np.float32)


def fit_clip(samples: np.ndarray, length: int) -> np.ndarray:
    """The first `length` samples, padded with zeros (silence) at the end where fewer."""
    out = np.zeros(length, dtype=np.float32)
    out[: min(length, len(samples))] = samples[:length]
    return out


def pattern(text: str, what: str, groups: int = 0) -> re.Pattern[str]:
    """A regular expression a user gave, with at least `groups` groups, or a one-line error."""
    try:
        compiled = re.compile(text)
    except re.error as err:
        raise VaekitError(f"{what} {text!r}: not a regular expression ({err})") from None
    if compiled.groups < groups:
        raise VaekitError(f"{what} {text!r}: needs a group, (...), around the label")
    return compiled


def labels_from_names(names: list[str], label_pattern: str) -> tuple[np.ndarray, list[str]]:
    """Each file's label: the first group of `label_pattern` searched in its file name (the
    last path part); classes are the distinct labels sorted (numerically where all are
    integers). Returns (labels (N,) int64 indices into classes, classes)."""
    regex = pattern(label_pattern, "--label-pattern", groups=1)
    found = []
    for name in names:
        match = regex.search(Path(name).name)
        if match is None:  # (the pattern as typed: a repr doubled its backslashes)
            raise VaekitError(f"{name}: its name does not match --label-pattern '{label_pattern}'")
        if not match.group(1):
            raise VaekitError(
                f"{name}: --label-pattern '{label_pattern}' matches its name, but its first "
                "group, the label, matched nothing"
            )
        found.append(match.group(1))
    distinct = set(found)
    numeric = all(re.fullmatch(r"-?\d+", s) for s in distinct)
    classes = sorted(distinct, key=(lambda s: (int(s), s)) if numeric else None)
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[s] for s in found], dtype=np.int64), classes


def test_rows(names: list[str], test_pattern: str) -> np.ndarray:
    """Which files are the test split: those whose name (the last path part) matches
    `test_pattern` (re.search). Returns a boolean mask (N,); none or all matching is an error."""
    regex = pattern(test_pattern, "--test-pattern")
    mask = np.array([regex.search(Path(n).name) is not None for n in names], dtype=bool)
    if not mask.any():
        raise VaekitError(f"--test-pattern {test_pattern!r}: no file name matches it")
    if mask.all():
        raise VaekitError(f"--test-pattern {test_pattern!r}: every file matches it; none to train")
    return mask


def read_clips(
    folder: Path, names: list[str], rate: int | None, length_s: float
) -> tuple[np.ndarray, int, list[int], np.ndarray]:
    """Every file, resampled to `rate` (None: the rate most files have) and fitted to
    `length_s` seconds. Returns (clips (N, L) float32, the rate, each file's rate, each
    file's duration in seconds (N,))."""
    if not names:
        raise VaekitError(f"{folder}: no .wav files")
    read = [read_wav(folder / name) for name in names]
    if not any(len(s) for s, _ in read):
        raise VaekitError(f"{folder}: every .wav file is empty (no samples)")
    rates = [r for _, r in read]
    if rate is None:
        rate = Counter(rates).most_common(1)[0][0]
    length = round(length_s * rate)
    if length < 1:
        raise VaekitError(f"--clip-seconds {length_s}: shorter than one sample at {rate} Hz")
    clips = np.stack([fit_clip(resample(s, r, rate), length) for s, r in read])
    return clips, rate, rates, np.array([len(s) / r for s, r in read])
