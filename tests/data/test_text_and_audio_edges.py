"""Behaviour of the text and audio readers that no other test pinned (found by mutating the
source): the text kind's refusals and figures, and the audio kind's refusals and durations."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from vaekit.data.batches import ImageSet
from vaekit.data.datasets import open_dataset
from vaekit.data.formats import parse_idx, read_amat, read_idx, read_idx_dataset
from vaekit.errors import VaekitError
from vaekit.kinds.audio import data as audio_data
from vaekit.kinds.audio.data_wav import labels_from_names, read_wav, resample, wav_bytes, write_wav
from vaekit.kinds.text import data as text_data
from vaekit.kinds.text.data_vocab import (
    BOS,
    EOS,
    PAD,
    SPECIALS,
    UNK,
    Vocabulary,
    build_vocabulary,
    read_lines,
)
from vaekit.kinds.text.evaluate import per_word
from vaekit.kinds.text.model_decoding import beam_search

RATE = 8000
SMALL = {"clip_seconds": 0.5, "n_fft": 256, "hop_length": 64, "n_mels": 32}


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_three_lines_are_enough_to_carve_a_test_split(tmp_path: Path):
    """A text file of three lines opens (two train, one test); only fewer are refused."""
    data = open_dataset(write_lines(tmp_path / "t.txt", ["a b", "c d", "e f"]))
    assert (len(data.train), len(data.test)) == (2, 1)
    assert data.info["num_lines"] == 3


@pytest.mark.parametrize("fraction", [0, 0.0, 1, 1.0, -0.5, 1.5])
def test_a_text_files_test_fraction_outside_zero_one_is_refused(tmp_path: Path, fraction):
    """--test-fraction 0 or 1 (or beyond) is one line naming the range, not an empty split."""
    path = write_lines(tmp_path / "t.txt", [f"w{i} a b" for i in range(10)])
    with pytest.raises(VaekitError, match=r"test fraction must be in \(0, 1\)"):
        open_dataset(path, test_fraction=fraction)


@pytest.mark.parametrize(("length", "opens"), [(0, False), (1, True), (1000, True), (1001, False)])
def test_the_max_length_is_refused_outside_one_to_the_limit(tmp_path: Path, length, opens):
    """--max-length takes 1..1000 (MAX_LENGTH) inclusive; 0 and 1001 are one-line errors."""
    path = write_lines(tmp_path / "t.txt", [f"w{i}" for i in range(10)])
    if opens:
        data = open_dataset(path, max_length=length)
        assert data.shape == (1, 1, length + 1) and data.info["max_length"] == length
    else:
        with pytest.raises(VaekitError, match=rf"--max-length must be in 1\.\.1000, got {length}"):
            open_dataset(path, max_length=length)


def test_a_vocabulary_that_leaves_half_the_tokens_unknown_is_accepted(tmp_path: Path):
    """The --vocab-size refusal is for more than half the training tokens unknown: a corpus
    with exactly half its words unknown opens, and its unknown words are counted."""
    lines = [f"a {w}" for w in "xyzuvwpqrstk"]  # each line: 1 known word, 1 unknown
    data = open_dataset(write_lines(tmp_path / "t.txt", lines), vocab_size=1, seed=0)
    assert data.schema.tokens[4:] == ("a",)
    train = data.info["tokens"]["train"]
    assert data.info["unknown_tokens"]["train"] == len(data.train) == train / 2


def test_info_counts_each_splits_tokens_and_the_whole_vocabulary(tmp_path: Path):
    """info's tokens are each split's words (no <eos>); vocab_size counts the four special
    tokens too; max_length is the vocabulary's."""
    lines = [f"w{i} x" + " y" * (i % 3) for i in range(12)]
    data = open_dataset(write_lines(tmp_path / "t.txt", lines), max_length=6, seed=3)
    for name, split in (("train", data.train), ("test", data.test)):
        expected = sum(len(line.split()) for line in split.ids)
        assert data.info["tokens"][name] == expected
    assert data.info["tokens"]["train"] != data.info["tokens"]["test"]
    assert (
        data.info["vocab_size"]
        == len(data.schema.tokens)
        == 4 + len({w for line in data.train.ids for w in line.split()})
    )
    assert data.info["max_length"] == 6


def test_a_models_vocabulary_sets_the_length_and_dropped_lines_are_counted_per_split(
    tmp_path: Path,
):
    """Opened with a model's vocabulary, the rows are its max_length long (whatever
    --max-length says); lines longer are dropped from the split they fell in."""
    vocab = build_vocabulary(["a b c"], vocab_size=10, max_length=3)
    lines = ["a b", "a", "b c", "a b c a b", "c", "b", "a c", "c a b c", "b b", "a a"]
    path = write_lines(tmp_path / "t.txt", lines)
    data = open_dataset(path, schema=vocab.to_json(), schema_kind="text", test_fraction=0.5)
    assert data.info["max_length"] == 3 and data.shape == (1, 1, 4)
    dropped = data.info["dropped_long"]
    kept = {*data.train.ids, *data.test.ids}
    assert kept == {line for line in lines if len(line.split()) <= 3}
    assert dropped["train"] + dropped["test"] == 2
    assert dropped["train"] == 5 - len(data.train) and dropped["test"] == 5 - len(data.test)


def test_the_hash_covers_the_test_split_too(tmp_path: Path):
    """Two files with the same training lines but other test lines have other sha256s."""
    first = [f"w{i} a" for i in range(10)]
    data = open_dataset(write_lines(tmp_path / "a.txt", first), seed=0, test_fraction=0.3)
    test_rows = {first.index(line) for line in data.test.ids}
    second = [f"w{i} b" if i in test_rows else line for i, line in enumerate(first)]
    other = open_dataset(write_lines(tmp_path / "b.txt", second), seed=0, test_fraction=0.3)
    assert list(other.train.ids) == list(data.train.ids)
    assert other.info["sha256"] != data.info["sha256"]


def test_all_lines_too_long_for_a_models_vocabulary_say_its_length_is_fixed(tmp_path: Path):
    """With a model's vocabulary the remedy is not "raise --max-length" (it cannot change),
    and the message names the training split that is empty."""
    vocab = build_vocabulary(["a b c"], vocab_size=10, max_length=2)
    path = write_lines(tmp_path / "t.txt", ["a b c"] * 6)
    with pytest.raises(VaekitError, match=r"no training line.*the model's --max-length is fixed"):
        open_dataset(path, schema=vocab.to_json(), schema_kind="text")
    with pytest.raises(VaekitError, match=r"no training line.*; raise --max-length$"):
        open_dataset(path, max_length=2)


def test_describe_counts_words_without_eos_and_lists_the_ten_most_frequent(tmp_path: Path):
    """`vaekit data info` on text: words per line (mean, longest) leave out the <eos>; the
    most frequent words are the ten after the special tokens."""
    words = [f"w{k:02d}" for k in range(12)]
    lines = [" ".join(words[: 1 + i % 12]) for i in range(48)]
    data = open_dataset(write_lines(tmp_path / "t.txt", lines), max_length=12, seed=0)
    info = text_data.describe(data)
    for name, split in (("train", data.train), ("test", data.test)):
        counts = [len(line.split()) for line in split.ids]
        assert info["words_per_line"][name]["max"] == max(counts)
        assert info["words_per_line"][name]["mean"] == pytest.approx(sum(counts) / len(counts))
    assert info["most_frequent"] == list(data.schema.tokens[4:14])
    assert len(info["most_frequent"]) == 10 and "<eos>" not in info["most_frequent"]
    # its lines say the count leaves the <eos> out, where eval's per-word figures count it
    from vaekit.kinds.text.render import info_lines

    words = sum(len(line.split()) for line in data.train.ids)
    info = {**data.info, **info}
    shown = next(line for line in info_lines(info) if line.startswith("  train "))
    assert shown.startswith(f"  train {words:>9} tokens (no <eos>), ")


def test_a_file_given_as_a_text_input_is_refused_not_read_as_a_sentence(tmp_path: Path):
    """A text model's input that names an existing file is refused in one line; a spec that
    names no file is the sentence itself."""
    vocab = build_vocabulary(["the cat sat"], vocab_size=10, max_length=5)
    path = write_lines(tmp_path / "the cat", ["the cat sat"])
    with pytest.raises(VaekitError, match="takes sentences or test-split indices, not files"):
        text_data.read_input(str(path), vocab, (1, 1, 6))
    line = text_data.read_input("the cat", vocab, (1, 1, 6))
    assert line[0, 0, 0].tolist() == [vocab.index("the"), vocab.index("cat"), EOS, PAD, PAD, PAD]
    assert UNK not in line[0, 0, 0].tolist()


def tone(freq: float, seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_recordings(folder: Path, seconds: list[float], rate: int = RATE) -> Path:
    """One tone per duration, named `c{i}_{i}.wav`."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(seconds):
        write_wav(folder / f"c{i}_{i}.wav", tone(300 + 50 * i, s, rate), rate)
    return folder


def test_three_recordings_are_enough_to_carve_a_test_set_and_two_are_not(tmp_path: Path):
    """A WAV folder without --test-pattern needs three files: two are one line, three open."""
    with pytest.raises(VaekitError, match="2 recordings are too few to carve a test set"):
        open_dataset(write_recordings(tmp_path / "two", [0.3] * 2), audio=SMALL)
    data = open_dataset(write_recordings(tmp_path / "three", [0.3] * 3), audio=SMALL)
    assert (len(data.train), len(data.test)) == (2, 1) and data.info["num_files"] == 3


@pytest.mark.parametrize("fraction", [0, 1.0, 1.5])
def test_a_wav_folders_test_fraction_outside_zero_one_is_refused(tmp_path: Path, fraction):
    """--test-fraction 0 or 1 on a WAV folder is one line naming the range."""
    folder = write_recordings(tmp_path / "f", [0.3] * 4)
    with pytest.raises(VaekitError, match=r"test fraction must be in \(0, 1\)"):
        open_dataset(folder, audio=SMALL, test_fraction=fraction)


def test_a_clip_of_at_most_half_the_fft_is_refused(tmp_path: Path):
    """--clip-seconds too short for one FFT frame (at most n_fft / 2 samples) is one line
    saying so; one sample more opens."""
    folder = write_recordings(tmp_path / "f", [0.3] * 4)
    for samples in (100, 128):
        with pytest.raises(VaekitError, match=f"{samples} samples at 8000 Hz, too short for"):
            open_dataset(folder, audio={**SMALL, "clip_seconds": samples / RATE})
    data = open_dataset(folder, audio={**SMALL, "clip_seconds": 129 / RATE})
    assert len(data.train) + len(data.test) == 4


def test_the_recordings_durations_are_their_min_median_and_max(tmp_path: Path):
    """info's durations_s: the shortest, the median (not the mean) and the longest file."""
    data = open_dataset(write_recordings(tmp_path / "f", [0.1, 0.2, 0.3, 1.0]), audio=SMALL)
    assert data.info["durations_s"] == {"min": 0.1, "median": 0.25, "max": 1.0}


def test_the_label_pattern_is_part_of_the_hash_and_classes_are_counted(tmp_path: Path):
    """Labelled otherwise, the same files are another dataset (another sha256); a labelled
    folder's info counts its classes."""
    folder = write_recordings(tmp_path / "f", [0.3] * 4)
    by_first = open_dataset(folder, audio={**SMALL, "label_pattern": r"^c(\d)_"})
    by_second = open_dataset(folder, audio={**SMALL, "label_pattern": r"_(\d)\.wav$"})
    unlabelled = open_dataset(folder, audio=SMALL)
    assert len({d.info["sha256"] for d in (by_first, by_second, unlabelled)}) == 3
    assert by_first.info["num_classes"] == 4 and by_first.info["classes"] == ["0", "1", "2", "3"]
    assert unlabelled.info["num_classes"] is None


def test_recordings_of_other_classes_given_to_a_model_are_not_numbered_by_its_classes(
    tmp_path: Path,
):
    """A model's classes number only recordings of those classes: files whose names give
    other labels are opened unlabelled, not as the model's class of the same index."""
    options = {**SMALL, "label_pattern": r"^([a-z]+)_"}
    model_folder = tmp_path / "model"
    model_folder.mkdir()
    for i in range(3):
        for name, f in (("high", 2000), ("low", 300)):
            write_wav(model_folder / f"{name}_{i}.wav", tone(f, 0.3), RATE)
    trained = open_dataset(model_folder, audio=options)
    assert trained.schema.classes == ("high", "low")
    other = tmp_path / "other"
    other.mkdir()
    for i in range(3):
        for name in ("cat", "dog"):
            write_wav(other / f"{name}_{i}.wav", tone(500, 0.3), RATE)
    given = open_dataset(other, audio=options, schema=trained.schema.to_json(), schema_kind="audio")
    assert given.train.labels is None and given.test.labels is None
    assert given.info["num_classes"] is None and "classes" not in given.info
    same = open_dataset(
        model_folder, audio=options, schema=trained.schema.to_json(), schema_kind="audio"
    )
    assert same.train.labels is not None and same.info["classes"] == ["high", "low"]


def test_an_audio_models_input_must_be_a_wav_file(tmp_path: Path):
    """A file that is not .wav given to an audio model is one line; a .wav is read."""
    folder = write_recordings(tmp_path / "f", [0.3] * 4)
    schema = open_dataset(folder, audio=SMALL).schema
    text = tmp_path / "notes.txt"
    text.write_text("not sound", encoding="utf-8")
    with pytest.raises(VaekitError, match=r"takes \.wav files"):
        audio_data.read_input(str(text), schema, (1, 32, 63))
    assert audio_data.read_input(str(folder / "c0_0.wav"), schema, (1, 32, 63)).shape[-2] == 32


def _le(value: int, size: int) -> bytes:
    return value.to_bytes(size, "little")


def _chunk(name: bytes, body: bytes) -> bytes:
    """A RIFF chunk: its name, size and body, padded to an even length."""
    return name + _le(len(body), 4) + body + b"\0" * (len(body) % 2)


def _extensible_wav(samples: np.ndarray, bits: int = 16, fmt_size: int = 40, extra=b"") -> bytes:
    """Mono 16-bit PCM under a WAVE_FORMAT_EXTENSIBLE header (which Python 3.11's `wave`
    does not read), the format chunk cut to `fmt_size` bytes, `extra` chunks before the data."""
    fmt = _le(0xFFFE, 2) + _le(1, 2) + _le(RATE, 4) + _le(2 * RATE, 4) + _le(2, 2)
    fmt += _le(bits, 2) + _le(22, 2) + _le(bits, 2) + _le(4, 4)
    fmt += _le(1, 2) + bytes.fromhex("000000001000800000aa00389b71")  # the PCM subformat
    body = b"WAVE" + _chunk(b"fmt ", fmt[:fmt_size]) + extra
    body += _chunk(b"data", samples.astype("<i2").tobytes())
    return b"RIFF" + _le(len(body), 4) + body


def test_an_odd_length_chunk_before_the_data_is_skipped_with_its_pad_byte(tmp_path: Path):
    """Chunks are padded to an even length: an odd-sized chunk (a LIST of tags) between the
    format and the data of an extensible WAV does not hide the samples."""
    samples = (np.arange(200) * 37 % 2000 - 1000).astype(np.int16)
    path = tmp_path / "tagged.wav"
    path.write_bytes(_extensible_wav(samples, extra=_chunk(b"LIST", b"INFOabc")))
    got, rate = read_wav(path)
    assert rate == RATE
    np.testing.assert_array_equal(got, samples.astype(np.float32) / 32768)


def test_an_extensible_header_of_26_bytes_names_its_pcm_subformat(tmp_path: Path):
    """The subformat's tag ends at byte 26 of the format chunk: a chunk of exactly 26 bytes
    is read as the PCM it says."""
    samples = np.arange(-50, 50, dtype=np.int16)
    path = tmp_path / "short_fmt.wav"
    path.write_bytes(_extensible_wav(samples, fmt_size=26))
    np.testing.assert_array_equal(read_wav(path)[0], samples.astype(np.float32) / 32768)


@pytest.mark.parametrize("bits", [12, 4, 0])
def test_an_extensible_header_with_odd_bits_is_a_damaged_format_chunk(tmp_path: Path, bits):
    """Bits per sample not a whole number of bytes (or under 8) is a damaged header."""
    path = tmp_path / "odd_bits.wav"
    path.write_bytes(_extensible_wav(np.zeros(100, np.int16), bits=bits))
    with pytest.raises(VaekitError, match="no or a damaged format chunk"):
        read_wav(path)


@pytest.mark.parametrize("rate", [100, 768_000])
def test_the_lowest_and_highest_sample_rates_are_read(tmp_path: Path, rate):
    """100 Hz and 768,000 Hz are inside the range read; only rates beyond it are refused."""
    path = tmp_path / "edge.wav"
    path.write_bytes(wav_bytes(np.full(50, 0.25), rate))
    samples, got = read_wav(path)
    assert got == rate and len(samples) == 50


def test_resampling_rounds_the_new_length_to_the_nearest_sample():
    """1003 samples at 16 kHz are 501.5 at 8 kHz: 502, not truncated to 501."""
    assert len(resample(np.ones(1003, np.float32), 16000, 8000)) == 502
    assert len(resample(np.ones(7, np.float32), 300, 200)) == 5


def test_a_resampled_files_duration_is_measured_at_its_own_rate(tmp_path: Path):
    """info's durations count each file's seconds at the rate it was recorded at: a 0.9 s file
    at 16 kHz among 8 kHz files is 0.9 s (and cropped), not 1.8 s."""
    folder = write_recordings(tmp_path / "f", [0.3] * 4)
    write_wav(folder / "fast.wav", tone(440, 0.9, 16000), 16000)
    data = open_dataset(folder, audio=SMALL)
    assert data.info["sample_rate"] == RATE and data.info["resampled"] == 1
    assert data.info["durations_s"]["max"] == 0.9 and data.info["cropped"] == 1


def test_written_samples_round_to_the_nearest_16_bit_value(tmp_path: Path):
    """write_wav rounds each sample to the nearest 16-bit step (not down)."""
    steps = np.array([1.6, -0.4, 2.5, -2.6, 0.49])
    path = tmp_path / "r.wav"
    write_wav(path, steps / 32768, RATE)
    assert (read_wav(path)[0] * 32768).tolist() == [2.0, 0.0, 2.0, -3.0, 0.0]


def test_negative_numeric_labels_sort_as_numbers():
    """Labels that are all integers, negative ones included, are classes in numeric order."""
    labels, classes = labels_from_names(["-2_a.wav", "10_b.wav", "3_c.wav"], r"^(-?\d+)_")
    assert classes == ["-2", "3", "10"] and labels.tolist() == [0, 2, 1]


def test_the_per_word_elbo_figures_spread_the_line_bound_over_words_and_eos():
    """The text section of `vaekit eval`: -ELBO per word is the per-line loss times the lines
    over the tokens (words and one <eos> a line), its perplexity exp of that (not of the
    IWAE NLL), the ELBO per line is minus the loss, and the importance samples are reported."""
    vocab = build_vocabulary(["a b c"], vocab_size=10, max_length=4)
    rows = vocab.rows([vocab.encode(s) for s in ("a b c", "c", "b a")])
    data = ImageSet(torch.from_numpy(rows), None, 1.0, pixels="text")
    report = {"iwae": {"nll": 6.0, "k": 7}, "elbo": {"loss": 9.0, "kl": 1.5}}
    text = per_word(report, data)
    assert text["num_tokens"] == 3 + 1 + 1 + 1 + 2 + 1 and text["num_lines"] == 3
    assert text["nll_per_word"] == pytest.approx(6.0 * 3 / 9)
    assert text["neg_elbo_per_word"] == pytest.approx(9.0 * 3 / 9)
    assert text["perplexity_elbo"] == pytest.approx(math.exp(3.0))
    assert text["perplexity"] == pytest.approx(math.exp(2.0))
    assert text["elbo_per_line"] == -9.0 and text["kl_per_line"] == 1.5
    assert text["iw_samples"] == 7


class MarkovDecoder:
    """A stand-in for SentenceDecoder whose next-token probabilities depend on the last token
    only (`table`: token -> {next token: probability}), for beam searches worked by hand."""

    use_latent = True

    def __init__(self, table: dict[int, dict[int, float]], vocab_size: int, max_length: int):
        self.table, self.vocab_size, self.max_length = table, vocab_size, max_length

    def start(self, z: torch.Tensor) -> torch.Tensor:
        return torch.zeros(1, len(z), 1)

    def run(self, inputs: torch.Tensor, z: torch.Tensor, state: torch.Tensor):
        logits = torch.full((len(inputs), 1, self.vocab_size), -30.0)
        for i, token in enumerate(inputs[:, -1].tolist()):
            for nxt, p in self.table.get(token, {EOS: 1.0}).items():
                logits[i, 0, nxt] = math.log(p)
        return logits, state


A, B, C = 4, 5, 6  # three words after the special tokens


def test_beam_search_keeps_the_best_finished_line_not_the_first():
    """A line that ends first (the empty one, p 0.3) loses to one finished later that is
    more probable ("a", p 0.7 * 0.99)."""
    table = {BOS: {EOS: 0.3, A: 0.7}, A: {EOS: 0.99, B: 0.01}}
    found = beam_search(MarkovDecoder(table, 7, 4), torch.zeros(1, 2), 2)
    assert found[0].tolist() == [A, EOS, PAD, PAD, PAD]


def test_a_beam_of_two_keeps_two_hypotheses_and_beats_greedy():
    """Greedy takes "a" (0.55) and ends "a c" (0.55 * 0.6 = 0.33); a beam of two also keeps
    "b" (0.45), which ends there with 0.45 and is returned."""
    table = {BOS: {A: 0.55, B: 0.45}, A: {EOS: 0.4, C: 0.6}, B: {EOS: 1.0}, C: {EOS: 1.0}}
    decoder = MarkovDecoder(table, 7, 4)
    assert beam_search(decoder, torch.zeros(1, 2), 1)[0].tolist() == [A, C, EOS, PAD, PAD]
    assert beam_search(decoder, torch.zeros(1, 2), 2)[0].tolist() == [B, EOS, PAD, PAD, PAD]


def _idx(code: int, array: np.ndarray) -> bytes:
    """IDX bytes as the format stores them: type `code`, big-endian sizes and values."""
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize(
    ("code", "values"),
    [
        (0x09, np.array([[-128, -1], [0, 127]], dtype=np.int8)),
        (0x0B, np.array([[-300, 2], [258, -1]], dtype=np.int16)),
        (0x0C, np.array([[-70000, 1], [2**30, -5]], dtype=np.int32)),
        (0x0D, np.array([[1.5, -2.25], [1e-3, 3e7]], dtype=np.float32)),
        (0x0E, np.array([[1.5, -2.25], [1e-300, 3e200]], dtype=np.float64)),
    ],
)
def test_idx_values_are_read_big_endian_into_native_arrays(tmp_path: Path, code, values):
    """Every IDX type's values are big-endian in the file (signed bytes are signed) and come
    back as the same numbers in a native-order array of the same kind."""
    path = tmp_path / "v.idx"
    path.write_bytes(_idx(code, values))
    for got in (read_idx(path), parse_idx(path.read_bytes(), path)):
        np.testing.assert_array_equal(got, values)
        assert got.dtype.isnative and got.dtype.kind == values.dtype.kind
        assert got.dtype.itemsize == values.itemsize


def test_an_idx_file_of_no_dimensions_is_refused():
    """A header of zero dimensions describes no array: refused, not read as a scalar."""
    with pytest.raises(VaekitError, match="truncated IDX header"):
        parse_idx(bytes([0, 0, 0x08, 0, 7]), Path("scalar.idx"))


def test_labels_of_more_than_one_dimension_are_refused(tmp_path: Path):
    """An IDX dataset's labels must be one per image: a (N, 1) label file is one line."""
    images = np.zeros((3, 4, 4), dtype=np.uint8)
    paths = {}
    for split in ("train", "test"):
        paths[f"{split}_images"] = tmp_path / f"{split}-images.idx"
        paths[f"{split}_images"].write_bytes(_idx(0x08, images))
        paths[f"{split}_labels"] = tmp_path / f"{split}-labels.idx"
        paths[f"{split}_labels"].write_bytes(_idx(0x08, np.arange(3, dtype=np.uint8)[:, None]))
    with pytest.raises(VaekitError, match="expected one label per image, shape"):
        read_idx_dataset(paths, None)


def test_an_empty_or_blank_amat_file_is_refused(tmp_path: Path):
    """An .amat file with no image (empty, or only blank lines) is a one-line error, not an
    empty dataset."""
    for content in (b"", b"\n \n"):
        path = tmp_path / "empty.amat"
        path.write_bytes(content)
        with pytest.raises(VaekitError, match="expected 784 values on each of 0 lines"):
            read_amat(path)


def test_an_amat_file_with_windows_line_ends_and_tabs_is_read(tmp_path: Path):
    """CRLF line ends and tab separators are blanks: the images read as with spaces."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 2, (2, 784)).astype(np.uint8)
    path = tmp_path / "crlf.amat"
    path.write_bytes(b"".join(b"\t".join(b"%d" % v for v in row) + b"\r\n" for row in images))
    np.testing.assert_array_equal(read_amat(path), images.reshape(2, 1, 28, 28))


def test_a_vocabulary_of_no_words_is_refused(tmp_path: Path):
    """--vocab-size 0 is one line naming the option, not a vocabulary of the specials only."""
    with pytest.raises(VaekitError, match="--vocab-size must be at least 1, got 0"):
        build_vocabulary(["a b c"], vocab_size=0, max_length=5)
    path = write_lines(tmp_path / "t.txt", [f"w{i} a" for i in range(6)])
    with pytest.raises(VaekitError, match="--vocab-size must be at least 1, got 0"):
        open_dataset(path, vocab_size=0)


def test_lines_break_only_at_line_ends_not_at_form_feeds_or_unicode_separators(tmp_path: Path):
    """A form feed or U+2028 inside a line leaves it one line (str.splitlines would cut)."""
    path = tmp_path / "t.txt"
    path.write_text("a\x0cb\nc\u2028d\r\ne\x1cf\n", encoding="utf-8")
    assert read_lines(path) == ["a\x0cb", "c\u2028d", "e\x1cf"]


def test_decode_stops_at_pad_skips_bos_and_names_bad_indices_unknown():
    """Decoded token ids: <pad> ends a line like <eos>, <bos> is not written, and an index
    outside the vocabulary (negative too) is <unk>, not a word counted from the end."""
    vocab = build_vocabulary(["a b c"], vocab_size=10, max_length=5)
    a, b = vocab.index("a"), vocab.index("b")
    assert vocab.decode([a, PAD, b]) == "a"
    assert vocab.decode([BOS, a, b, EOS]) == "a b"
    assert vocab.decode([a, -1, len(vocab), b]) == "a <unk> <unk> b"


def test_a_vocabulary_record_longer_than_the_limit_is_refused():
    """A config.json vocabulary whose max_length is past MAX_LENGTH (1000) is refused."""
    record = {"tokens": [*SPECIALS, "a"], "max_length": 1000}
    assert Vocabulary.from_json(record).max_length == 1000
    with pytest.raises(VaekitError, match=r"max_length must be an integer in 1\.\.1000"):
        Vocabulary.from_json({**record, "max_length": 1001})
