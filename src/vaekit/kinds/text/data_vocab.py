"""Text: a UTF-8 file of sentences, one per line, as sequences of word indices.

Tokens: each line is lowercased and split into words and punctuation marks: a run of letters
and digits (with inner apostrophes, as in "don't" or "o'er") is one word, every other visible
character is a token of its own ("speak," -> "speak" ","). Blank lines are skipped.

The vocabulary is built from the training split only: the `vocab_size` most frequent tokens
(ties in code-point order), after the four specials <pad> (0), <bos> (1), <eos> (2) and
<unk> (3); any other token reads as <unk>. It is JSON (in a text model's record,
model.schema), saved with the model, so that every later command encodes text as training
did.

Shapes: N lines, T = max_length + 1 positions. A line is stored as its word indices, then
<eos>, then <pad> to the end: float32 (N, 1, 1, T), the layout every dataset has (C, H, W), so
splits, batches and the training loop take it as it is. <bos> is never stored: the decoder
starts from it. Lines of more than `max_length` tokens are dropped from the data (and counted);
text given to a trained model later is truncated to `max_length` tokens instead.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vaekit.errors import VaekitError

TEXT_SUFFIXES = (".txt",)
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(4)
MAX_LENGTH = 1000  # tokens per line: far beyond a sentence, and memory stays bounded


def is_text_path(source: Any) -> bool:
    return isinstance(source, str | Path) and Path(source).suffix.lower() in TEXT_SUFFIXES


def tokenize(line: str) -> list[str]:
    """A line's tokens: lowercased words (letters and digits with the combining marks that
    follow them, inner apostrophes kept) and single punctuation marks; the line in Unicode's
    composed form (NFC) first, so that "é" typed as e and an accent is the word "é" is."""
    return _token_pattern().findall(unicodedata.normalize("NFC", line).lower())


@functools.cache
def _token_pattern() -> re.Pattern[str]:
    """Words and marks of punctuation (see `tokenize`). A combining mark (Unicode category
    M: an accent, a vowel sign, a nukta, a point) continues its word: the class of them is
    built from the Unicode database once, on the first line tokenized."""
    marks, start = [], None
    for code in range(sys.maxunicode + 2):
        mark = code <= sys.maxunicode and unicodedata.category(chr(code)).startswith("M")
        if mark and start is None:
            start = code
        elif not mark and start is not None:
            marks.append(f"{re.escape(chr(start))}-{re.escape(chr(code - 1))}")
            start = None
    letters = f"(?:[^\\W_]|[{''.join(marks)}])+"
    return re.compile(f"{letters}(?:'{letters})*|\\S")


def read_lines(path: Path) -> list[str]:
    """The non-blank lines of a UTF-8 text file, stripped; every fault a VaekitError."""
    if not path.is_file():
        raise VaekitError(f"{path}: no such file")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise VaekitError(f"{path}: not UTF-8 text (line {line}, byte {err.start})") from None
    # at line ends only (\n, \r\n, \r): str.splitlines also cuts at form feeds and U+2028
    ends = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.strip() for line in ends.split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        raise VaekitError(f"{path}: no text (every line is blank)")
    return lines


@dataclass(frozen=True)
class Vocabulary:
    """Token <-> index; index 0-3 are the SPECIALS."""

    tokens: tuple[str, ...]
    max_length: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    def __len__(self) -> int:
        return len(self.tokens)

    def index(self, token: str) -> int:
        return self._index.get(token, UNK)  # type: ignore[attr-defined]

    def encode(self, line: str, truncate: bool = True) -> list[int]:
        """A line's token indices (without <bos>/<eos>), at most max_length if `truncate`."""
        ids = [self.index(t) for t in tokenize(line)]
        return ids[: self.max_length] if truncate else ids

    def decode(self, ids: Any) -> str:
        """Indices up to the first <eos> (or <pad>) as text: tokens joined by spaces."""
        words = []
        for i in [int(i) for i in ids]:
            if i in (EOS, PAD):
                break
            if i != BOS:
                words.append(self.tokens[i] if 0 <= i < len(self.tokens) else SPECIALS[UNK])
        return " ".join(words)

    def rows(self, encoded: list[list[int]]) -> np.ndarray:
        """Encoded lines (each at most max_length) -> float32 (N, 1, 1, max_length + 1):
        indices, <eos>, then <pad>."""
        out = np.full((len(encoded), self.max_length + 1), PAD, dtype=np.float32)
        for row, ids in enumerate(encoded):
            out[row, : len(ids)] = ids
            out[row, len(ids)] = EOS
        return out.reshape(len(encoded), 1, 1, self.max_length + 1)

    def to_json(self) -> dict[str, Any]:
        return {"tokens": list(self.tokens), "max_length": self.max_length}

    @classmethod
    def from_json(cls, record: Any, where: str = "config.json: model.schema") -> Vocabulary:
        tokens = record.get("tokens") if isinstance(record, dict) else None
        length = record.get("max_length") if isinstance(record, dict) else None
        if (
            not isinstance(tokens, list)
            or tuple(tokens[:4]) != SPECIALS
            or not all(isinstance(t, str) for t in tokens)
            or len(set(tokens)) != len(tokens)
        ):
            raise VaekitError(f"{where}: tokens must be distinct strings starting {SPECIALS}")
        if type(length) is not int or not 1 <= length <= MAX_LENGTH:
            raise VaekitError(f"{where}: max_length must be an integer in 1..{MAX_LENGTH}")
        return cls(tuple(tokens), length)


def build_vocabulary(lines: list[str], vocab_size: int, max_length: int) -> Vocabulary:
    """The specials, then the `vocab_size` most frequent tokens of the `lines` that training
    keeps (at most `max_length` tokens: a dropped line's words are no part of the data; ties
    in code-point order)."""
    if vocab_size < 1:
        raise VaekitError(f"--vocab-size must be at least 1, got {vocab_size}")
    counts: Counter[str] = Counter()
    for line in lines:
        tokens = tokenize(line)
        if len(tokens) <= max_length:
            counts.update(tokens)
    ranked = sorted(counts, key=lambda t: (-counts[t], t))
    return Vocabulary(SPECIALS + tuple(ranked[:vocab_size]), max_length)


@dataclass(frozen=True)
class Corpus:
    """A text file encoded: rows (N, 1, 1, T) of the kept lines, their text, and the counts
    `data info` reports."""

    rows: np.ndarray
    lines: list[str]
    dropped_long: int
    unknown_tokens: int
    tokens: int

    def checksum(self) -> str:
        return hashlib.sha256(self.rows.tobytes()).hexdigest()


def encode_corpus(lines: list[str], vocab: Vocabulary) -> Corpus:
    """The lines of at most max_length tokens, encoded; longer ones dropped and counted."""
    kept, encoded = [], []
    for line in lines:
        ids = vocab.encode(line, truncate=False)
        if len(ids) <= vocab.max_length:
            kept.append(line)
            encoded.append(ids)
    unknown = sum(ids.count(UNK) for ids in encoded)
    tokens = sum(len(ids) for ids in encoded)
    return Corpus(vocab.rows(encoded), kept, len(lines) - len(kept), unknown, tokens)


def counted_tokens(rows: np.ndarray | Any) -> int:
    """The tokens a per-word NLL counts in rows (N, 1, 1, T): words and each line's <eos>
    (not <pad>; <bos> is given, never predicted)."""
    return int((np.asarray(rows) != PAD).sum())
