"""The audio kind's cli part (vaekit.kinds.protocol): what `vaekit sample`, `reconstruct` and
`interpolate` write for an audio model (its render part's FLOWS): a folder of 16-bit WAV files,
made from the spectrograms by Griffin-Lim (data_mel.py), and spectrograms.png, the
spectrograms in dB (low frequencies at the bottom).

torch and the render part are imported where they are used: every command's parser asks each
kind's cli part for its own arguments, and `vaekit --help` needs none of them."""

from __future__ import annotations

import argparse
from pathlib import Path


def _outputs(args: argparse.Namespace, what: str):
    """The -o folder (default RUNDIR/outputs/COMMAND) and its Outputs, spectrograms.png
    declared; the WAV files are claimed by the caller once their names are known."""
    from vaekit.cli.output import Outputs
    from vaekit.kinds.audio.render import PICTURE

    outputs = Outputs(args)
    return outputs, outputs.folder(args.output, f"{what} and {PICTURE}", (PICTURE,))


def _wav_name(spec: str) -> str:
    """A file name for what a test-split id or an INPUT names: its path, flattened."""
    return Path(spec).with_suffix("").as_posix().replace("/", "__") + ".wav"


def sample(args: argparse.Namespace) -> int:
    """-n clips drawn from the prior: sample_000.wav, ... and spectrograms.png in -o."""
    from vaekit.api.fit_prior import sampling_refusal
    from vaekit.api.model import load
    from vaekit.errors import VaekitError
    from vaekit.kinds.audio import render
    from vaekit.kinds.audio.render import PICTURE

    if args.npy:
        raise VaekitError("--npy is for images: an audio model's samples are WAV files (-o)")
    if args.n > 1024:
        raise VaekitError(f"-n {args.n}: at most 1024 clips at once")
    outputs, folder = _outputs(args, "WAV files sample_000.wav, ...")
    names = [f"sample_{i:03d}.wav" for i in range(args.n)]
    outputs.claim(*(folder / name for name in names))
    model = load(args.rundir, args.device)
    why = sampling_refusal(model)  # a VQ-VAE before `vaekit fit-prior`, as for images
    if why is not None:
        raise VaekitError(why)
    model.labels(args.label, 1)
    x = model.sample(args.n, args.seed, args.temperature, args.label)
    paths = render.write_clips(folder, model, x, names, args.seed)
    audio = model.schema
    print(f"wrote {len(paths)} sampled clips ({audio.clip_seconds:g} s at "
          f"{audio.sample_rate} Hz) and {PICTURE} to {folder}")  # fmt: skip
    return 0


def reconstruct(args: argparse.Namespace) -> int:
    """INPUTs (test indices or WAV files; else the first -n test clips): each as NAME_input.wav
    (its own spectrogram through Griffin-Lim) and NAME_reconstruction.wav, and
    spectrograms.png (each row of inputs above their reconstructions) in -o."""
    import torch

    from vaekit.api.inputs import Inputs
    from vaekit.api.model import load, reconstruct_first
    from vaekit.errors import VaekitError
    from vaekit.kinds.audio import render
    from vaekit.kinds.audio.render import PICTURE

    if args.npy:
        raise VaekitError("--npy is for images: an audio model's reconstructions are WAV files")
    claimed, folder = _outputs(args, "WAV files NAME_input.wav, NAME_reconstruction.wav")
    model = load(args.rundir, args.device)
    resolver = Inputs(model, args.data, conditional=not args.inputs)
    if args.inputs:  # read (and checked: an index in range, a readable file) first
        inputs = resolver.images(args.inputs).cpu()
        ids = [
            resolver.test.ids[int(s)] if s.isdigit() else Path(s).name for s in args.inputs
        ]  # fmt: skip
    else:
        test = resolver.test
        n = min(args.n, len(test), 256)
        ids = (test.ids or [str(i) for i in range(len(test))])[:n]
    stems = [_wav_name(i)[: -len(".wav")] for i in ids]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:
        raise VaekitError(
            f"two INPUTs would both be written as {twice[0]}_input.wav: give files of "
            "different names, or reconstruct them one at a time"
        )
    names = [f"{s}_input.wav" for s in stems] + [f"{s}_reconstruction.wav" for s in stems]
    claimed.claim(*(folder / name for name in names))
    if args.inputs:
        outputs = model.reconstruct(inputs)
    else:
        inputs, outputs = reconstruct_first(model, test, n)
    render.write_clips(folder, model, torch.cat([inputs, outputs]), names, 0)
    render.write_pairs(folder, model, inputs, outputs)
    print(f"wrote {len(inputs)} clips and their reconstructions (WAV, {PICTURE}) to {folder}")
    return 0


def interpolate(args: argparse.Namespace) -> int:
    """--from A --to B (test indices or WAV files): step_00.wav, ... and spectrograms.png."""
    from vaekit.api import apps
    from vaekit.api.model import load
    from vaekit.errors import VaekitError
    from vaekit.kinds.audio import render
    from vaekit.kinds.audio.render import PICTURE

    if args.grid:
        raise VaekitError("--grid draws images: for an audio model give --from A --to B")
    if args.npy:
        raise VaekitError("--npy is for images: an audio model's interpolation is WAV files")
    if args.start is None or args.end is None:
        raise VaekitError("give --from A --to B (test-split indices or .wav files)")
    outputs, folder = _outputs(args, "WAV files step_00.wav, ...")
    names = [f"step_{i:02d}.wav" for i in range(args.steps)]
    outputs.claim(*(folder / name for name in names))
    model = load(args.rundir, args.device)
    x = apps.interpolate(model, args.start, args.end, args.steps, args.method, args.data)
    paths = render.write_clips(folder, model, x, names, 0)
    print(f"wrote {len(paths)} interpolated clips and {PICTURE} to {folder}")
    return 0
