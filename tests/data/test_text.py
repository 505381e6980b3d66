"""Text files: the tokenizer, the vocabulary (built from the training lines only), the
special tokens, dropping long lines, and one-line errors for bad files."""

from pathlib import Path

import numpy as np
import pytest

from vaekit.data.datasets import open_dataset
from vaekit.errors import VaekitError
from vaekit.kinds.text.data_vocab import (
    BOS,
    EOS,
    MAX_LENGTH,
    PAD,
    SPECIALS,
    UNK,
    Vocabulary,
    build_vocabulary,
    counted_tokens,
    encode_corpus,
    tokenize,
)
from vaekit.train_options import TRAIN_OPTIONS


def test_tokenize_lowercases_and_splits_punctuation():
    assert tokenize("Speak, speak!  We know't; O'er-run") == [
        "speak", ",", "speak", "!", "we", "know't", ";", "o'er", "-", "run"]  # fmt: skip
    assert tokenize("   ") == []


def test_vocabulary_round_trip_and_unknown_words():
    vocab = build_vocabulary(["the cat sat .", "the dog sat ."], vocab_size=3, max_length=6)
    assert vocab.tokens[:4] == SPECIALS
    assert vocab.tokens[4:] == (".", "sat", "the")  # by count, ties in code-point order
    ids = vocab.encode("The cat sat.")
    assert ids == [vocab.index("the"), UNK, vocab.index("sat"), vocab.index(".")]
    assert vocab.decode(ids) == "the <unk> sat ."
    assert vocab.decode([*vocab.encode("sat ."), EOS, vocab.index("the")]) == "sat ."
    again = Vocabulary.from_json(vocab.to_json())
    assert again == vocab and again.encode("the sat") == vocab.encode("the sat")


def test_rows_hold_words_then_eos_then_pad_and_never_bos():
    vocab = build_vocabulary(["a b c"], vocab_size=10, max_length=4)
    rows = vocab.rows([vocab.encode("a b"), vocab.encode("c")])
    assert rows.shape == (2, 1, 1, 5) and rows.dtype == np.float32
    a, b, c = (vocab.index(w) for w in "abc")
    assert rows[0, 0, 0].tolist() == [a, b, EOS, PAD, PAD]
    assert rows[1, 0, 0].tolist() == [c, EOS, PAD, PAD, PAD]
    assert not (rows == BOS).any()
    assert counted_tokens(rows) == 5  # three words and two <eos>


def test_the_option_and_the_reader_share_the_length_limit():
    assert TRAIN_OPTIONS["max_length"].kind.most == MAX_LENGTH


def test_long_lines_are_dropped_from_data_and_truncated_when_given():
    vocab = build_vocabulary(["a b c d e"], vocab_size=10, max_length=3)
    corpus = encode_corpus(["a b", "a b c d", "c"], vocab)
    assert corpus.lines == ["a b", "c"] and corpus.dropped_long == 1
    assert len(vocab.encode("a b c d e")) == 3


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_open_text_builds_the_vocabulary_from_the_training_lines_only(tmp_path: Path):
    lines = [f"line number {i} ." for i in range(40)] + ["", "   "]
    data = open_dataset(write_lines(tmp_path / "c.txt", lines), seed=1, max_length=8)
    assert data.kind == "text" and data.info["kind"] == "text"
    assert len(data.train) + len(data.test) == 40  # blank lines skipped
    test_numbers = {line.split()[2] for line in data.test.ids}
    train_numbers = {line.split()[2] for line in data.train.ids}
    assert test_numbers and not test_numbers & train_numbers
    assert all(data.schema.index(n) == UNK for n in test_numbers)
    assert all(data.schema.index(n) != UNK for n in train_numbers)
    assert data.info["unknown_tokens"]["test"] == len(data.test)
    assert data.shape == (1, 1, 9)
    # the model's vocabulary encodes other text the same way
    record = data.schema.to_json()
    again = open_dataset(tmp_path / "c.txt", seed=1, schema=record, schema_kind="text")
    assert again.info["sha256"] == data.info["sha256"]


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        (b"", {}, "no text"),
        (b"\n  \n\n", {}, "no text"),
        (b"caf\xe9 au lait\nok\nok\n", {}, "not UTF-8 text (line 1"),
        (b"one line\nanother\n", {}, "too few"),
        (b"a b c d\ne f g h\ni j k l\nm n o p\n" * 3, {"vocab_size": 1}, "raise --vocab-size"),
        (b"a b c d e f\n" * 10, {"max_length": 3}, "raise --max-length"),
    ],
)
def test_bad_text_files_are_one_line_errors(tmp_path: Path, content, options, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(VaekitError, match=message.replace("(", r"\(")) as err:
        open_dataset(path, **options)
    assert "\n" not in str(err.value)


def test_an_accent_typed_as_its_own_character_stays_in_its_word():
    """ "é" typed as e and a combining accent (NFD) became the tokens "e" and the accent, and
    the same word typed both ways was two words; a lowercased "İ" (i and a dot) split too."""
    composed, decomposed = "\u00e9t\u00e9 caf\u00e9", "e\u0301te\u0301 cafe\u0301"
    assert tokenize(decomposed) == tokenize(composed) == ["\u00e9t\u00e9", "caf\u00e9"]
    assert tokenize("\u0130stanbul'da") == ["i\u0307stanbul'da"]
    # every combining mark continues its word: vowel signs and a nukta that NFC keeps apart
    # (Devanagari), Hebrew points
    assert tokenize("ज़रूर फ़ायदा שׁוֹ") == ["ज़रूर", "फ़ायदा", "שׁוֹ"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tokens": ["<bos>", "<pad>", "<eos>", "<unk>", "a"]}, "starting"),  # specials' order
        ({"tokens": [*SPECIALS, "a", "a"]}, "distinct strings"),
        ({"tokens": [*SPECIALS, "a", 3]}, "distinct strings"),
        ({"max_length": 0}, "max_length must be an integer"),
        ({"max_length": True}, "max_length must be an integer"),  # not 1
        ({"max_length": 2.0}, "max_length must be an integer"),
    ],
)
def test_a_damaged_vocabulary_record_is_refused(change, message):
    """A config.json whose vocabulary is misaligned would decode every token as another."""
    record = {"tokens": [*SPECIALS, "a", "b"], "max_length": 8}
    assert Vocabulary.from_json(record).tokens == tuple(record["tokens"])
    with pytest.raises(VaekitError, match=message):
        Vocabulary.from_json({**record, **change})
