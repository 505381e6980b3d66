"""What turning a log-mel spectrogram back into sound loses (README, Audio).

The audio commands write WAV files from spectrograms: dB -> mel power -> linear power
(non-negative least squares, 100 updates) -> Griffin-Lim's phase (64 iterations), as
`AudioFeatures.to_clips` does. This script takes FSDD's official test clips (index 0-4: 300
recordings) as `vaekit train --data FOLDER` reads them (1 s at 8 kHz, FFT 512, hop 128, 64
HTK mel bins, floored at -80 dB), resynthesizes each from its own log-mel spectrogram, takes
the log-mel spectrogram of the result again, and reports the log-spectral distance between
the two (vaekit.kinds.audio.evaluate: per clip, the RMS over mel bins of the dB difference,
averaged over frames), mean and standard error over the clips, and the time per clip.

No model is involved: this is the floor under any audio model's WAV output.

    .venv/bin/python -m bench.audio_resynthesis [--data ../shared/data/fsdd/recordings]
        [--threads 1] [--results bench/results/audio-resynthesis.json]
"""

from __future__ import annotations

import argparse
import platform
import re
import time
from pathlib import Path

import torch

from vaekit.files import write_json
from vaekit.kinds.audio.data_mel import GRIFFIN_LIM_ITERS, AudioFeatures
from vaekit.kinds.audio.evaluate import log_spectral_distance

OFFICIAL_TEST = re.compile(r"_[0-4]\.wav$")  # FSDD's test split: index 0-4
RATE, SECONDS, FFT, HOP, MELS = 8000, 1.0, 512, 128, 64  # vaekit's audio defaults


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/fsdd/recordings")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--results", default="bench/results/audio-resynthesis.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    files = sorted(p for p in Path(args.data).glob("*.wav") if OFFICIAL_TEST.search(p.name))
    if not files:
        raise SystemExit(f"{args.data}: no FSDD test recordings (*_[0-4].wav)")
    # Identity standardization: the model's units are then dB.
    features = AudioFeatures(RATE, SECONDS, FFT, HOP, MELS, (0.0,) * MELS, (1.0,) * MELS)
    db = torch.cat([features.read(path) for path in files])  # as the commands read a WAV file
    start = time.perf_counter()
    waves = torch.cat(
        [
            features.to_clips(db[i : i + 64], generator=torch.Generator().manual_seed(i))
            for i in range(0, len(db), 64)  # the commands' batch
        ]
    )
    seconds = time.perf_counter() - start
    lsd = log_spectral_distance(db, features.decibels(waves))
    result = {
        "clips": len(files),
        "split": "FSDD's official test split (index 0-4), every recording",
        "settings": dict(
            sample_rate=RATE,
            clip_seconds=SECONDS,
            n_fft=FFT,
            hop_length=HOP,
            n_mels=MELS,
            griffin_lim_iters=GRIFFIN_LIM_ITERS,
        ),
        "lsd_db_mean": round(float(lsd.mean()), 3),
        "lsd_db_stderr": round(float(lsd.std() / len(lsd) ** 0.5), 3),
        "lsd_db_median": round(float(lsd.median()), 3),
        "seconds_per_clip": round(seconds / len(files), 4),
        "threads": args.threads,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
    }
    write_json(Path(args.results), result)
    print(
        f"{len(files)} test clips resynthesized from their log-mel spectrograms: log-spectral "
        f"distance {result['lsd_db_mean']:.2f} ± {result['lsd_db_stderr']:.2f} dB (median "
        f"{result['lsd_db_median']:.2f}), {1000 * seconds / len(files):.1f} ms per clip"
    )


if __name__ == "__main__":
    main()
