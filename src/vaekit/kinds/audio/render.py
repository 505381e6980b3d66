"""The audio kind's render part: see vaekit.kinds.protocol."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import torch

from vaekit.kinds.audio.data import clip_names
from vaekit.kinds.audio.data_mel import GRIFFIN_LIM_ITERS
from vaekit.kinds.audio.data_wav import wav_bytes
from vaekit.report.html import caption, figure, image
from vaekit.report.images import data_uri, pairs_grid, png_bytes
from vaekit.report.outputs import (
    bits_per_dim_line,
    draw_error_maps,
    draw_pictures,
    skipped_lines,
    write_index_scores,
)
from vaekit.report.view import Builder, RunView

# --- `vaekit eval`'s table (see vaekit.kinds.protocol, "render part") -------------------


def eval_nouns(report: dict) -> tuple[str, str]:
    """What the likelihood is for and what the data is, as `vaekit eval`'s table names them:
    the likelihood's support's values, on standardized log-mel spectrograms."""
    return f"{report['likelihood_support']} values", "standardized log-mel spectrograms"


def eval_lines(report: dict) -> list[str]:
    """`vaekit eval`'s lines after the bounds: bits/dim (a dash: spectrograms are no 8-bit
    pixels), and the log-spectral distance of the reconstruction, in dB (or why it was
    skipped)."""
    rec = report.get("reconstruction", {})
    lines = [bits_per_dim_line(report)]
    if "lsd_db" not in rec:
        return lines + skipped_lines(rec)
    spread = rec.get("lsd_db_stderr")  # None for one clip: no standard error, not 0
    lsd = f"{rec['lsd_db']:10.2f} ± {'—' if spread is None else format(spread, '.2f')} dB"
    rmse = f"(log-mel, posterior mean; RMSE {rec['rmse_db']:.2f} dB)"
    return [*lines, f"  {'log-spectral distance':<24}{lsd}   {rmse}"]


# --- the command line's outputs (see vaekit.kinds.protocol, "render part") ---------------

# The picture written beside the clips: the spectrograms in dB, low frequencies at the bottom.
PICTURE = "spectrograms.png"
# What `anomaly` writes beside its scores' CSV: the top clips' spectrograms above their errors.
ANOMALY_BESIDE = ("_errors.png",)
# The commands with a flow of the kind's own at the command line (its cli part,
# vaekit.kinds.audio.cli): each writes a folder of WAV files and PICTURE.
FLOWS = ("sample", "reconstruct", "interpolate")
# INPUTs name clips (test-split indices, .wav files), not rows.
ROWS = False


def write_clips(folder, model, x, names: list[str], seed: int) -> list:
    """The spectrograms x (N, 1, M, T) in the model's units as N 16-bit WAV files named
    `names` in `folder` (made if need be; Griffin-Lim, drawn from `seed`), and their picture,
    PICTURE. Returns the WAV paths."""
    import torch

    from vaekit.kinds.audio.data_wav import write_wav
    from vaekit.report.images import save_grid

    audio = model.schema
    generator = torch.Generator().manual_seed(seed)
    clips = torch.cat(
        [audio.to_clips(x[i : i + 64], generator=generator) for i in range(0, len(x), 64)]
    )
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in names]
    for path, clip in zip(paths, clips, strict=True):
        write_wav(path, clip.numpy(), audio.sample_rate)
    save_grid(audio.picture(x), folder / PICTURE, ncols=8)
    return paths


def write_pairs(folder, model, inputs, outputs) -> None:
    """PICTURE in `folder`: each row of input spectrograms above their reconstructions."""
    import torch

    from vaekit.report.images import pairs_grid, save_grid

    both = model.schema.picture(torch.cat([inputs, outputs]))
    save_grid(pairs_grid(both[: len(inputs)], both[len(inputs) :]), folder / PICTURE, ncols=8)


def anomaly_ids(model, specs: list[str], test_ids) -> list[str] | None:
    """A clip per INPUT, named by its file (clip_names)."""
    return clip_names(specs, test_ids)


def write_scores(model, output, data, scores, flags, labels, detector, score: str) -> None:
    """`anomaly`'s CSV: file (each clip's name), score, anomalous, label."""
    write_index_scores(output, scores, flags, labels, data.ids)


def show_top(model, data, scores, top, maps, written) -> None:
    """The top-scoring clips' spectrograms (in dB, low frequencies at the bottom) above their
    error maps, as the PNG `maps`."""
    audio = model.schema
    draw_error_maps(model, data, top, maps, lambda x, e: (audio.picture(x), e.flip(2)))


def class_names(model) -> list[str] | None:
    """The names of the labels (from --label-pattern) by index, for `embed`; None: none."""
    classes = model.schema.classes
    return None if classes is None else list(classes)


def id_header(model) -> str:
    """The header of the id column `embed` writes first: each clip's file."""
    return "file"


# --- the report and the compare page (see vaekit.kinds.protocol, "render part") -----------
# Spectrogram grids of samples and reconstructions (in dB, low frequencies at the bottom),
# each with a few clips to play (Griffin-Lim, data_mel.py) embedded as <audio> elements.

PLAYED = 4  # clips embedded per section


def report_sections(model: Any, shared: list[tuple[str, Builder]]) -> list[tuple[str, Builder]]:
    """The report's sections of an audio model: spectrograms and sounds, then `shared`."""
    return [
        ("Samples", samples_section),
        ("Reconstructions", reconstructions_section),
        *shared,
    ]


def _players(run: RunView, x: torch.Tensor, names: list[str]) -> str:
    """<audio> elements for the spectrograms x (N, 1, M, T), seeded with the run's seed."""
    features = run.model.schema
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
    features = run.model.schema
    x = run.model.sample(32, seed=run.seed)
    played = _players(run, x[:PLAYED], [f"sample {i}" for i in range(PLAYED)])
    text = (
        f"32 log-mel spectrograms decoded from prior samples (seed {run.seed}); the first "
        f"{PLAYED} as sound, their phase by Griffin-Lim ({GRIFFIN_LIM_ITERS} iterations)"
    )
    return image(data_uri(png_bytes(features.picture(x), 8)), "samples") + caption(text) + played


def reconstructions_section(run: RunView) -> str:
    features = run.model.schema
    test = run.need_test()
    inputs, outputs = run.reconstructions(16)
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


def compare_samples(model: Any, name: str, seed: int) -> str:
    """16 spectrograms sampled from `model` (seed `seed`), drawn in dB, as one figure of the
    compare page captioned `name`; a conditional model's row r is of class r mod its number
    of classes."""
    label = torch.arange(16) // 4 % model.num_classes if model.num_classes else None
    spectrograms = model.schema.picture(model.sample(16, seed=seed, label=label))
    return figure(image(data_uri(png_bytes(spectrograms, 4)), f"samples of {name}"), name)


def schema_shown(schema: Any, checksum: bool = False) -> Any:
    """config.json's model.schema as a page shows it: the audio features, as they are."""
    return schema


# --- the pictures `vaekit train` writes beside a run (vaekit.api.report.write_pictures) -----


def pictures(
    model: Any, test: Any, history: list[dict[str, Any]], files: dict[str, Path], seed: int
) -> dict[str, Path]:
    """An image model's pictures (samples, reconstructions, curves), the spectrograms drawn
    in dB (AudioFeatures.picture)."""
    return draw_pictures(model, test, history, files, seed, model.schema.picture)


def info_lines(info: dict[str, Any]) -> list[str]:
    """`vaekit data info`'s lines for a folder of .wav files, after its name: the
    recordings, how they were fitted, the splits, classes and checksum."""
    d = info["durations_s"]
    lines = [
        f"  {info['num_files']} .wav files; {info['resampled']} resampled to "
        f"{info['sample_rate']} Hz; durations {d['min']:.2f} / {d['median']:.2f} / "
        f"{d['max']:.2f} s (min / median / max)",
        f"  each fitted to {info['clip_seconds']:g} s ({info['cropped']} cropped to their "
        f"start, {info.get('padded', '?')} padded with silence); log-mel spectrogram (1, "
        f"mels, frames) {tuple(info['shape'])}",
    ]
    how = (f"files matching '{info['test_pattern']}'" if info.get("test_pattern")
           else f"carved {info.get('test_carved')}")  # fmt: skip
    lines.append(f"  {info['num_train']} train / {info['num_test']} test ({how})")
    if info.get("classes"):
        lines.append(f"  {len(info['classes'])} classes: {', '.join(info['classes'][:20])}")
    lines.append(f"  content sha256 {info['sha256']}")
    return lines
