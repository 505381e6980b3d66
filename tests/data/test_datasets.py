from pathlib import Path

import numpy as np
import pytest
import torch

from vaekit.data.batches import batch_indices, carve, scale
from vaekit.data.datasets import open_dataset
from vaekit.data.fetch import locate_files
from vaekit.errors import VaekitError


def test_folder_of_idx_files(idx_folder: Path):
    ds = open_dataset(idx_folder)
    assert ds.shape == (1, 12, 12)
    assert (len(ds.train), len(ds.test)) == (60, 20)
    assert ds.train.images.dtype == torch.uint8
    assert ds.info["max_value"] == 255 and ds.info["num_classes"] == 4
    assert ds.info["sha256"] == open_dataset(idx_folder).info["sha256"]


def test_digits_carves_a_seeded_test_split():
    a, b, c = (open_dataset("digits", seed=s) for s in (0, 0, 1))
    assert ds_size(a) == 1797 and len(a.test) == 180
    assert a.info["max_value"] == 16 and int(a.train.images.max()) == 16
    assert a.info["test_carved"] == {"fraction": 0.1, "seed": 0}
    assert torch.equal(a.test.images, b.test.images)
    assert not torch.equal(a.test.images, c.test.images)


def ds_size(ds):
    return len(ds.train) + len(ds.test)


def test_arrays_uint8_and_float():
    u8 = np.random.default_rng(0).integers(0, 256, (30, 5, 6), dtype=np.uint8)
    ds = open_dataset(u8)
    assert ds.shape == (1, 5, 6) and ds.info["max_value"] == 255
    f = torch.rand(30, 3, 4, 4)
    ds = open_dataset(f)
    assert ds.shape == (3, 4, 4) and ds.train.images.dtype == torch.float32
    assert ds.info["max_value"] == 1


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((4, 4)), "expected images shaped"),
        (np.zeros((4, 2, 4, 4)), "expected images shaped"),
        (np.full((4, 4, 4), 2.0), r"in \[0, 1\]"),
        (np.full((4, 4, 4), np.nan), r"in \[0, 1\]"),
        (np.zeros((4, 4, 4), dtype=np.int32), "uint8 or float"),
    ],
)
def test_bad_arrays(array, message):
    with pytest.raises(VaekitError, match=message):
        open_dataset(array)


def test_unknown_name_and_missing_path(tmp_path: Path):
    with pytest.raises(VaekitError, match=r"unknown dataset 'nope'.*digits"):
        open_dataset("nope")
    with pytest.raises(VaekitError, match="no such file"):
        open_dataset(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(VaekitError, match="no dataset found in this folder; looked for"):
        open_dataset(tmp_path / "empty")


def test_lookup_order_and_missing_message(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("VAEKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("vaekit.data.fetch.get_spec", _spec_without_system_dirs)
    with pytest.raises(VaekitError) as info:
        locate_files("fashion-mnist")
    message = str(info.value)
    for name in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte", str(tmp_path / "cache")):
        assert name in message
    # The cache is used when $VAEKIT_DATA lacks the files, and $VAEKIT_DATA wins when it has them.
    from tests.conftest import write_idx_folder

    write_idx_folder(tmp_path / "cache" / "fashion-mnist")
    assert locate_files("fashion-mnist")["train_images"].parent == tmp_path / "cache/fashion-mnist"
    write_idx_folder(tmp_path / "data" / "fashion-mnist", gz=False)
    assert locate_files("fashion-mnist")["train_images"] == (
        tmp_path / "data/fashion-mnist/train-images-idx3-ubyte"
    )


def test_registered_checksums_reject_other_files(tmp_path: Path, monkeypatch):
    from tests.conftest import write_idx_folder

    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path))
    write_idx_folder(tmp_path / "fashion-mnist")
    with pytest.raises(VaekitError, match="checksum mismatch"):
        open_dataset("fashion-mnist")


def _spec_without_system_dirs(name):
    from dataclasses import replace

    from vaekit.data.registry import get_spec

    return replace(get_spec(name), system_dirs=())


def test_carve_is_a_seeded_partition():
    kept, carved = carve(100, 0.25, seed=3)
    assert len(carved) == 25 and len(kept) == 75
    assert sorted(torch.cat([kept, carved]).tolist()) == list(range(100))
    assert torch.equal(carve(100, 0.25, seed=3)[1], carved)
    assert not torch.equal(carve(100, 0.25, seed=4)[1], carved)
    assert len(carve(100, 0.0, seed=3)[1]) == 0


def test_batches_cover_every_example_once_and_shuffle_by_epoch():
    batches = list(batch_indices(10, 4, shuffle=True, seed=0, epoch=1))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))
    again = torch.cat(list(batch_indices(10, 4, shuffle=True, seed=0, epoch=1)))
    other = torch.cat(list(batch_indices(10, 4, shuffle=True, seed=0, epoch=2)))
    assert torch.equal(torch.cat(batches), again) and not torch.equal(again, other)
    assert [len(b) for b in batch_indices(10, 4, shuffle=False, drop_last=True)] == [4, 4]


def test_scale_divides_by_the_maximum():
    x = torch.tensor([0, 8, 16], dtype=torch.uint8)
    assert torch.allclose(scale(x, 16), torch.tensor([0.0, 0.5, 1.0]))
    # float32 in [0, 1] from every stored type, equal to converting first; a new tensor
    pixels = torch.arange(256, dtype=torch.uint8)
    assert torch.equal(scale(pixels, 255), pixels.float().div(255))
    for dtype in (torch.int16, torch.float16, torch.float32, torch.float64):
        stored = torch.tensor([0.0, 3.0, 6.0]).to(dtype)
        out = scale(stored, 6)
        assert out.dtype == torch.float32 and torch.equal(out, torch.tensor([0.0, 0.5, 1.0]))
        assert stored.tolist() == [0.0, 3.0, 6.0]  # the stored values untouched


def test_a_small_set_keeps_at_least_one_test_example_and_bits_follow_their_seed():
    """round(n * fraction) is 0 for 4 examples at a tenth: the test split would be empty.
    binarize_once draws with its seed (eval records the seed it binarized with)."""
    from vaekit.data.batches import ImageSet, binarize_once

    kept, carved = carve(4, 0.1, seed=0)
    assert len(carved) == 1 and len(kept) == 3
    assert len(carve(4, 0.0, seed=0)[1]) == 0  # no test split asked: none
    gray = ImageSet(torch.full((50, 1, 4, 4), 128, dtype=torch.uint8), None, 255.0)
    bits = {s: binarize_once(gray, s).storage for s in (1, 2)}
    assert torch.equal(binarize_once(gray, 1).storage, bits[1])
    assert not torch.equal(bits[1], bits[2])
