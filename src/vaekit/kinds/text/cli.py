"""The text kind's cli part (vaekit.kinds.protocol): the commands on a text model's run,
what `vaekit sample`, `reconstruct`, `interpolate`, `anomaly` and `embed` do when RUNDIR holds
one: the text kind's render part names them in FLOWS, and each command's own module calls here
first (vaekit.cli.output.own_flow). The arguments are those commands' own, plus
`add_decoding`'s, which `add_arguments` gives the commands that decode sentences. An INPUT is
a test-split line index, a .txt file (each non-blank line) or a sentence itself.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from vaekit.cli.options import count

MAX_BEAM = 1000
BEAM = 5  # --beam-width's default
MAX_SENTENCES = 10_000  # `vaekit sample -n` on a text model: decoded at once, all printed
DECODE_HELP = (
    "for text: how words are chosen, the most probable one (greedy), drawn from the softmax "
    "at --temperature (sample; `vaekit sample` only), or by beam search (beam; default: greedy)"
)


def add_decoding(p: argparse.ArgumentParser) -> None:
    """--decode and --beam-width, for the commands that decode sentences."""
    p.add_argument("--decode", choices=("greedy", "sample", "beam"), default="greedy",
                   help=DECODE_HELP)  # fmt: skip
    p.add_argument("--beam-width", type=count(1, MAX_BEAM), default=None, metavar="W",
                   help=f"for text, --decode beam: the beam's width (default: {BEAM})")  # fmt: skip


def _decoding(args: argparse.Namespace) -> int:
    """The beam width to decode with, after refusing what the chosen --decode would ignore
    (--beam-width without beam; a --temperature other than 1 without sample)."""
    from vaekit.errors import VaekitError

    if args.beam_width is not None and args.decode != "beam":
        raise VaekitError(f"--beam-width is for --decode beam (this is --decode {args.decode})")
    if getattr(args, "temperature", 1.0) != 1.0 and args.decode != "sample":
        raise VaekitError(f"--temperature is for --decode sample (this is --decode {args.decode})")
    return BEAM if args.beam_width is None else args.beam_width


# The commands that decode sentences, and so take `add_decoding`'s arguments.
DECODING = ("sample", "reconstruct", "interpolate")


def add_arguments(command: str, p: argparse.ArgumentParser) -> None:
    """The text kind's own arguments of `command` (vaekit.cli.output.add_kind_arguments):
    --decode and --beam-width for the commands that decode sentences."""
    if command in DECODING:
        add_decoding(p)


def _claim(args: argparse.Namespace, default: str, suffix: str | tuple[str, ...]) -> Path:
    """The one output file of a text command (-o, or RUNDIR/outputs/COMMAND/`default`),
    checked and claimed (vaekit.cli.output.Outputs)."""
    from vaekit.cli.output import Outputs

    outputs = Outputs(args)
    output = outputs.file(args.output, default, suffix)
    outputs.claim()
    return output


def _load(args: argparse.Namespace) -> Any:
    from vaekit.api.model import load

    return load(args.rundir, args.device)


def _other_file(spec: str) -> bool:
    """Whether an INPUT names an existing file in a path's form (a folder in it, or a suffix
    such as .csv), so it is no sentence; a bare word stays a word, a file of that name or not."""
    path = Path(spec.strip()).expanduser()
    return (os.sep in spec or bool(path.suffix)) and " " not in spec.strip() and path.is_file()


def _text(model: Any, lines) -> list[str]:
    from vaekit.kinds.text.render import sentences

    return sentences(model, lines)


def _inputs(model: Any, specs: list[str], data: str | None) -> tuple[list[str], Any, list[str]]:
    """(the sentences, their lines (B, 1, 1, T), their names) that specs name, or the test
    split's. A sentence's name is the INPUT it came from as given (a test-split index, a
    sentence), "FILE[k]" for line k of a file; the test split's are their indices."""
    import torch

    from vaekit.api.inputs import model_dataset
    from vaekit.cli.output import names_existing
    from vaekit.errors import VaekitError
    from vaekit.kinds.text.data_vocab import is_text_path, read_lines

    test: list[str] | None = None  # the test split's lines, read once where needed
    sentences: list[str] = []
    names: list[str] = []
    for spec in specs:
        if spec.isascii() and spec.isdigit():  # an index ("²" is a digit, and a sentence)
            test = test if test is not None else model_dataset(model, data).test.ids or []
            i = int(spec)
            if i >= len(test):
                raise VaekitError(f"index {i}: the test split holds {len(test)} lines")
            sentences.append(test[i])
        elif is_text_path(spec):  # a .txt file: one that is not there is an error, not text
            read = read_lines(Path(spec).expanduser())
            sentences += read
            names += [f"{spec}[{k}]" for k in range(len(read))]
            continue
        elif os.sep in spec.strip() and names_existing(spec, folder=True):  # "data" is a word
            raise VaekitError(f"{spec}: a folder; a text model takes sentences, .txt files or "
                              "test-split indices")  # fmt: skip
        elif _other_file(spec):  # x.csv or ../u.png: a file, not a sentence of <unk>s
            raise VaekitError(f"{spec}: a file, not a .txt file; a text model takes sentences, "
                              ".txt files or test-split indices")  # fmt: skip
        else:
            sentences.append(spec)
        names.append(spec)
    if not specs:
        split = model_dataset(model, data).test
        indices = [str(i) for i in range(len(split))]
        return list(split.ids or []), model.prepare(split.images), indices
    vocab = model.schema
    long = sum(len(vocab.encode(s, truncate=False)) > vocab.max_length
               for s in sentences)  # fmt: skip
    if long:
        print(f"note: {long} sentence(s) truncated to {vocab.max_length} tokens")
    lines = model.encode_lines(sentences) if sentences else torch.zeros(0)
    if not sentences:
        raise VaekitError("no sentences given (the .txt files are empty?)")
    return sentences, lines, names


def sample(args: argparse.Namespace) -> int:
    import torch

    from vaekit.errors import VaekitError
    from vaekit.kinds.text.apps import sample as sample_lines
    from vaekit.kinds.text.render import write_lines

    if args.npy or args.label is not None:
        raise VaekitError("--npy and --label are for images: a text model writes sentences")
    if args.n > MAX_SENTENCES:
        raise VaekitError(f"-n {args.n}: at most {MAX_SENTENCES} sentences at once")
    beam = _decoding(args)
    output = _claim(args, "samples.txt", ".txt")
    model = _load(args)
    generator = torch.Generator(model.device).manual_seed(args.seed)
    lines = sample_lines(model.vae, args.n, generator, args.decode, args.temperature, beam)
    text = _text(model, lines)
    write_lines(output, text)
    print("\n".join(text))
    print(f"wrote {len(text)} sentences to {output}")
    return 0


def reconstruct(args: argparse.Namespace) -> int:
    from vaekit.errors import VaekitError
    from vaekit.files import save_csv
    from vaekit.kinds.text.apps import reconstruct as reconstruct_lines

    if args.decode == "sample":
        raise VaekitError("--decode sample is for `vaekit sample`: choose greedy or beam")
    if args.npy:
        raise VaekitError("--npy is for images: a text model writes sentences (CSV)")
    beam = _decoding(args)
    output = _claim(args, "reconstructions.csv", ".csv")
    model = _load(args)
    sentences, lines, _ = _inputs(model, args.inputs, args.data)
    if not args.inputs:
        sentences, lines = sentences[: args.n], lines[: args.n]
    made = _text(model, reconstruct_lines(model.vae, lines, args.decode, beam))
    given = _text(model, lines)
    save_csv(output, ["input", "as_read", "reconstruction"],
             [[s, g, m] for s, g, m in zip(sentences, given, made, strict=True)])  # fmt: skip
    for g, m in zip(given[:10], made[:10], strict=False):
        print(f"{g}\n  -> {m}")
    print(f"wrote {len(made)} reconstructions to {output}")
    return 0


def interpolate(args: argparse.Namespace) -> int:
    from vaekit.errors import VaekitError
    from vaekit.kinds.text.apps import interpolate as interpolate_lines
    from vaekit.kinds.text.render import write_lines

    if args.grid or args.method != "lerp" or args.npy:
        raise VaekitError("--grid, --method slerp and --npy are for images: text walks a "
                          "straight line --from A --to B")  # fmt: skip
    if args.decode == "sample":
        raise VaekitError("--decode sample is for `vaekit sample`: choose greedy or beam")
    beam = _decoding(args)
    output = _claim(args, "interpolation.txt", ".txt")
    model = _load(args)
    ends = [
        args.start if args.start is not None else "0",
        args.end if args.end is not None else "1",
    ]
    sentences, lines, _ = _inputs(model, ends, args.data)
    if len(sentences) != 2:
        raise VaekitError("--from and --to each name one sentence (a .txt file holds several)")
    path = interpolate_lines(model.vae, lines[:1], lines[1:], args.steps, args.decode, beam)
    text = _text(model, path)
    write_lines(output, text)
    print(f"from: {sentences[0]}\n  to: {sentences[1]}")
    print("\n".join(f"{i:>3}  {t}" for i, t in enumerate(text)))
    print(f"wrote {len(text)} steps to {output}")
    return 0


def anomaly(args: argparse.Namespace) -> int:
    from vaekit.errors import VaekitError
    from vaekit.files import save_csv
    from vaekit.kinds.text.apps import nll_per_word
    from vaekit.kinds.text.data_vocab import PAD

    if args.score not in ("elbo", "nll"):
        raise VaekitError(f"--score {args.score} is for images: text takes elbo or nll")
    if args.normal_labels or args.quantile is not None or args.contamination is not None:
        raise VaekitError("text lines have no labels or calibrated threshold here: leave out "
                          "--normal-labels, --quantile and --contamination")  # fmt: skip
    output = _claim(args, "scores.csv", ".csv")
    model = _load(args)
    sentences, lines, names = _inputs(model, args.inputs, args.data)
    k = args.iw_samples if args.score == "nll" else 1
    total, per_word = nll_per_word(model.vae, lines, k, args.seed)
    counted = (lines.reshape(len(lines), -1) != PAD).sum(1)  # words and <eos>
    name = f"nll_iw{k}" if k > 1 else "neg_elbo"
    # as_read: what was scored, the line as the model reads it (its words, <unk> for those
    # outside its vocabulary, cut at --max-length): a long line's score is its beginning's.
    read = _text(model, lines)
    # the test split's lines by their index; INPUTs each as given ("FILE[k]" for a file's
    # line k): their places in the list were written as indices, which read as the test's
    first = "input" if args.inputs else "index"
    save_csv(output, [first, f"{name}_per_word", name, "tokens", "line", "as_read"],
             [[i, f"{w:.4f}", f"{t:.4f}", int(c), s, r] for i, w, t, c, s, r in
              zip(names, per_word.tolist(), total.tolist(), counted.tolist(), sentences,
                  read, strict=True)])  # fmt: skip
    order = per_word.argsort(descending=True)[: args.top].tolist()
    print(f"the {len(order)} highest {name} per word (nats):")
    for i in order:
        print(f"{float(per_word[i]):8.3f}  {sentences[i]}")
    print(f"wrote {len(sentences)} scores to {output}")
    return 0


def embed(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from vaekit.cli.output import save_npy
    from vaekit.files import save_csv
    from vaekit.kinds.text.apps import embed as embed_lines

    output = _claim(args, "latents.npy", (".npy", ".csv"))
    model = _load(args)
    sentences, lines, _ = _inputs(model, args.inputs, args.data)
    means, stds = embed_lines(model.vae, lines)
    z = model.latent_dim
    values = torch.cat([means, stds], dim=1) if args.with_std else means
    if output.suffix.lower() == ".npy":
        save_npy(output, values.cpu().numpy().astype(np.float32))
    else:
        header = ["line", *(f"mean_{i}" for i in range(z))]
        header += [f"std_{i}" for i in range(z)] if args.with_std else []
        save_csv(output, header,
                 [[s, *(f"{v:.6g}" for v in row)] for s, row in
                  zip(sentences, values.tolist(), strict=True)])  # fmt: skip
    what = "means and standard deviations" if args.with_std else "means"
    print(f"wrote the posterior {what} of {len(sentences)} lines ({z} dims) to {output}")
    return 0
