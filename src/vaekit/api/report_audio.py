"""The report's pictures and sounds of an audio model: spectrogram grids of samples and
reconstructions (in dB, low frequencies at the bottom), each with a few clips to play
(Griffin-Lim, vaekit.data.audio) embedded as <audio> elements."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import torch

from vaekit.api.model import reconstruct_first
from vaekit.data.audio import wav_bytes
from vaekit.data.spectrograms import GRIFFIN_LIM_ITERS
from vaekit.report.html import caption, image
from vaekit.report.images import data_uri, pairs_grid, png_bytes

if TYPE_CHECKING:
    from vaekit.api.report_view import RunView

PLAYED = 4  # clips embedded per section


def _players(run: RunView, x: torch.Tensor, names: list[str]) -> str:
    """<audio> elements for the spectrograms x (N, 1, M, T), seeded with the run's seed."""
    features = run.model.audio
    assert features is not None
    generator = torch.Generator().manual_seed(run.seed)
    clips = features.to_clips(x, GRIFFIN_LIM_ITERS, generator)
    out = []
    for name, clip in zip(names, clips, strict=True):
        uri = (
            "data:audio/wav;base64,"
            + base64.b64encode(wav_bytes(clip.numpy(), features.sample_rate)).decode()
        )
        out.append(f'<p>{name}: <audio controls src="{uri}"></audio></p>')
    return "".join(out)


def samples_section(run: RunView) -> str:
    features = run.model.audio
    assert features is not None
    x = run.model.sample(32, seed=run.seed)
    played = _players(run, x[:PLAYED], [f"sample {i}" for i in range(PLAYED)])
    text = (
        f"32 log-mel spectrograms decoded from prior samples (seed {run.seed}); the first "
        f"{PLAYED} as sound, their phase by Griffin-Lim ({GRIFFIN_LIM_ITERS} iterations)"
    )
    return image(data_uri(png_bytes(features.picture(x), 8)), "samples") + caption(text) + played


def reconstructions_section(run: RunView) -> str:
    features = run.model.audio
    assert features is not None
    test = run.need_test()
    inputs, outputs = reconstruct_first(run.model, test, 16)
    both = features.picture(torch.cat([inputs, outputs]))
    grid = pairs_grid(both[: len(inputs)], both[len(inputs) :])
    ids = test.ids or [str(i) for i in range(len(test))]
    count = min(PLAYED, len(inputs))
    played = _players(
        run,
        torch.cat([inputs[:count], outputs[:count]]),
        [f"{ids[i]} (input)" for i in range(count)]
        + [f"{ids[i]} (reconstruction)" for i in range(count)],
    )
    text = (
        f"the first {len(inputs)} test clips (odd rows) above their posterior-mean "
        "reconstructions; the inputs are played through Griffin-Lim too, so that its own "
        "artefacts can be told from the model's"
    )
    return image(data_uri(png_bytes(grid, 8)), "reconstructions") + caption(text) + played
