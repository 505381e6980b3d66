"""The text kind's data part: see vaekit.kinds.protocol. Its source is a text file (.txt, one
sentence per line: data_vocab.py), opened as a `Dataset` of token rows; a model of text
takes sentences and test-split indices, not files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from vaekit.data.batches import ImageSet, carve
from vaekit.data.dataset import Dataset, OpenOptions
from vaekit.data.datasets import OpenRequest, path_info, source_path
from vaekit.data.formats import input_file
from vaekit.errors import VaekitError
from vaekit.kinds.text.data_vocab import (
    MAX_LENGTH,
    PAD,
    Vocabulary,
    build_vocabulary,
    encode_corpus,
    is_text_path,
    read_lines,
)

__all__ = ["is_text_path"]  # the source's recognizer (BUILTIN_KINDS), from data_vocab.py


def schema_from_json(record: dict[str, Any] | None) -> Vocabulary | None:
    """The model's vocabulary (Vocabulary) from config.json."""
    return Vocabulary.from_json(record) if record is not None else None


def open_text_file(source: str | Path, asked: OpenRequest) -> Dataset:
    vocab = schema_from_json(asked.schema)
    return open_text(
        source_path(source), path_info(source), asked.opts, asked.vocab_size, asked.max_length,
        vocab,
    )  # fmt: skip


def describe(dataset: Dataset) -> dict[str, Any]:
    """What `vaekit data info` adds to a text file's info: the words per line of each split
    (mean and longest) and the ten most frequent words."""
    lengths = {
        name: (s.images.reshape(len(s), -1) != PAD).sum(1).float() - 1  # words, not <eos>
        for name, s in (("train", dataset.train), ("test", dataset.test))
    }
    return {
        "words_per_line": {
            name: {"mean": float(n.mean()), "max": int(n.max())} for name, n in lengths.items()
        },
        "most_frequent": list(dataset.schema.tokens[4:14]),
    }


def read_input(spec: str, schema: Vocabulary, shape: tuple[int, int, int]) -> Any:
    """A sentence (a spec that names no file), as the line the model reads (1, 1, 1, T), as
    the command line takes one; a file is refused: a text model's inputs are sentences (or
    test-split indices)."""
    try:
        named = Path(spec).expanduser().exists()
    except OSError:  # a sentence longer than a file name may be
        named = False
    if not named:
        return encode_lines([spec], schema)
    input_file(spec)
    raise VaekitError(f"{spec}: a text model takes sentences or test-split indices, not files")


def open_text(
    path: Path,
    info: dict[str, Any],
    opts: OpenOptions,
    vocab_size: int,
    max_length: int,
    vocab: Vocabulary | None,
) -> Dataset:
    """A text file (data_vocab.py): its lines as token indices (N, 1, 1, max_length + 1),
    the test split carved with the seed from the non-blank lines, the vocabulary built from
    the other (training) lines, or a model's `vocab`. Each set's ids are its lines' text."""
    lines = read_lines(path)
    if len(lines) < 3:
        raise VaekitError(f"{path}: {len(lines)} line{'' if len(lines) == 1 else 's'}, too "
                          "few to carve a test split (at least 3)")  # fmt: skip
    if not 0 < opts.test_fraction < 1:
        raise VaekitError(f"test fraction must be in (0, 1), got {opts.test_fraction}")
    if not 1 <= max_length <= MAX_LENGTH:
        raise VaekitError(f"--max-length must be in 1..{MAX_LENGTH}, got {max_length}")
    kept, carved = carve(len(lines), opts.test_fraction, opts.seed)
    parts = [[lines[i] for i in index.tolist()] for index in (kept, carved)]
    building = vocab is None  # (a model's vocabulary reads any text: its unknown words too)
    if building:
        vocab = build_vocabulary(parts[0], vocab_size, max_length)
    train, test = (encode_corpus(part, vocab) for part in parts)
    if building and train.tokens and train.unknown_tokens > train.tokens / 2:
        raise VaekitError(
            f"--vocab-size {len(vocab) - 4}: {train.unknown_tokens / train.tokens:.0%} of the "
            "training tokens would be unknown; raise --vocab-size"
        )
    if not len(train.lines) or not len(test.lines):
        remedy = "raise --max-length" if building else "the model's --max-length is fixed"
        raise VaekitError(
            f"{path}: no {'training' if not len(train.lines) else 'test'} line has at most "
            f"--max-length {max_length} tokens; {remedy}"
        )
    sets = [
        ImageSet(torch.from_numpy(c.rows), None, 1.0, pixels="text", ids=c.lines)
        for c in (train, test)
    ]
    info.update(
        kind="text",
        format="txt",
        max_value=1,
        shape=list(sets[0].shape),
        dtype="float32",
        num_lines=len(lines),
        num_train=len(sets[0]),
        num_test=len(sets[1]),
        num_classes=None,
        vocab_size=len(vocab),
        max_length=vocab.max_length,
        dropped_long={"train": train.dropped_long, "test": test.dropped_long},
        tokens={"train": train.tokens, "test": test.tokens},
        unknown_tokens={"train": train.unknown_tokens, "test": test.unknown_tokens},
        test_carved={"fraction": opts.test_fraction, "seed": opts.seed},
        sha256=hashlib.sha256(train.rows.tobytes() + test.rows.tobytes()).hexdigest(),
    )
    return Dataset(sets[0], sets[1], info, kind="text", schema=vocab)


def encode_lines(lines: list[str], schema: Vocabulary) -> torch.Tensor:
    """Sentences -> lines (B, 1, 1, T), each truncated to the vocabulary's max_length tokens.
    A sentence of no words is refused: it would read as a bare <eos>, which no input means."""
    encoded = [schema.encode(line) for line in lines]
    for line, ids in zip(lines, encoded, strict=True):
        if not ids:
            raise VaekitError(f"{line!r}: an empty sentence; a text input needs a word")
    return torch.from_numpy(schema.rows(encoded))
