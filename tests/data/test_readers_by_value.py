"""The readers checked by value, on inputs whose right answer is known: a mutation audit
found each of these transforms could be broken (a transposed IDX file, a BOM read as a word,
a phone photo left on its side, 16-bit pixels as noise, CelebA's crop ignored, a WAV's
clipping wrapped around) with every test passing."""

import gzip
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import idx_bytes
from vaekit.data.folders import Decode, decode_bytes
from vaekit.data.formats import read_idx, read_idx_dataset
from vaekit.kinds.audio.data_wav import wav_bytes
from vaekit.kinds.audio.evaluate import log_spectral_distance
from vaekit.kinds.text.data_vocab import read_lines


def _png(image: Image.Image, **save) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", **save)
    return out.getvalue()


def test_an_idx_dataset_keeps_its_rows_and_columns(tmp_path: Path):
    images = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5)  # H 3 != W 5
    paths = {}
    for split in ("train", "test"):
        paths[f"{split}_images"] = tmp_path / f"{split}-images.gz"
        paths[f"{split}_labels"] = tmp_path / f"{split}-labels.gz"
        paths[f"{split}_images"].write_bytes(gzip.compress(idx_bytes(images)))
        paths[f"{split}_labels"].write_bytes(gzip.compress(idx_bytes(np.array([1, 0]))))
    np.testing.assert_array_equal(read_idx(paths["train_images"]), images)
    read = read_idx_dataset(paths, None)
    np.testing.assert_array_equal(read["train_images"], images[:, None])
    np.testing.assert_array_equal(read["test_labels"], [1, 0])


def test_a_text_file_with_a_bom_or_old_mac_line_ends_reads_as_its_lines(tmp_path: Path):
    (tmp_path / "bom.txt").write_bytes("\ufeffthe cat\nsat .\n".encode())
    assert read_lines(tmp_path / "bom.txt") == ["the cat", "sat ."]
    (tmp_path / "mac.txt").write_bytes(b"a b\rc d\re f\r")
    assert read_lines(tmp_path / "mac.txt") == ["a b", "c d", "e f"]


def test_a_phone_photo_is_turned_as_its_exif_says():
    pixels = np.zeros((2, 4), np.uint8)  # 4 wide, 2 high, the top-left pixel white
    pixels[0, 0] = 255
    image = Image.fromarray(pixels, "L")
    exif = image.getexif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view
    decoded = decode_bytes(_png(image, exif=exif.tobytes()), Decode(None, "gray"))
    assert decoded.shape == (1, 4, 2)  # now 2 wide, 4 high
    assert decoded[0, 0, 1] == 255 and decoded.sum() == 255  # the white corner top right


def test_16_bit_gray_keeps_its_top_byte():
    wide = np.array([[0, 512, 65280, 40000, 65535]], dtype=np.uint16)
    decoded = decode_bytes(_png(Image.fromarray(wide)), Decode(None, "gray"))
    np.testing.assert_array_equal(decoded[0, 0], [0, 1, 254, 155, 255])  # v // 257
    la = Image.fromarray(np.full((2, 2, 2), 90, np.uint8), "LA")  # gray with alpha: gray
    assert decode_bytes(_png(la), Decode(None, "gray")).shape == (1, 2, 2)


def test_a_fixed_crop_keeps_the_centre_square_of_that_side():
    """CelebA's: the centre 148 x 148 of a 178 x 218 photo, then resized."""
    pixels = np.zeros((218, 178, 3), np.uint8)
    pixels[35:183, 15:163] = 200  # the centre 148 x 148 bright, the rest black
    decoded = decode_bytes(_png(Image.fromarray(pixels)), Decode(16, "rgb", 148))
    assert decoded.shape == (3, 16, 16) and int(decoded.min()) >= 190  # no black border
    largest = decode_bytes(_png(Image.fromarray(pixels)), Decode(16, "rgb", 0))
    assert int(largest.min()) < 100  # the largest square holds the black border


def test_samples_past_full_scale_are_clipped_not_wrapped():
    data = wav_bytes(np.array([1.0, 1.5, -2.0, 0.5]), 8000)
    pcm = np.frombuffer(data[44:], dtype="<i2")
    np.testing.assert_array_equal(pcm, [32767, 32767, -32768, 16384])


def test_the_log_spectral_distance_is_an_rms_over_mels_in_db():
    a = torch.zeros(1, 1, 4, 3)
    b = a + 3.0  # 3 dB everywhere
    assert float(log_spectral_distance(a, b)[0]) == pytest.approx(3.0)
    b = a.clone()
    b[0, 0, 0] = 4.0  # one mel of four 4 dB off, in every frame: sqrt(16 / 4) = 2
    assert float(log_spectral_distance(a, b)[0]) == pytest.approx(2.0)
