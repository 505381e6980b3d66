"""CIFAR-10, SVHN, Olivetti, CelebA and image folders, on small files the tests write."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.cli.test_cli import vaekit
from tests.data.writers import (
    py_batch,
    register_checksums,
    write_cifar_bin,
    write_olivetti,
    write_svhn,
)
from vaekit.data import prepare as prepare_module
from vaekit.data.datasets import open_dataset
from vaekit.errors import VaekitError


def test_cifar_binary_folder(tmp_path: Path):
    batches = write_cifar_bin(tmp_path / "cifar-10-batches-bin")
    ds = open_dataset(tmp_path)  # the parent folder is found too
    assert ds.shape == (3, 32, 32) and (len(ds.train), len(ds.test)) == (20, 4)
    images, labels = batches["data_batch_2"]
    assert torch.equal(ds.train.images[4:8], torch.from_numpy(images))
    assert torch.equal(ds.train.labels[4:8], torch.from_numpy(labels.astype(np.int64)))
    assert torch.equal(ds.test.images, torch.from_numpy(batches["test_batch"][0]))


def test_cifar_without_test_batch_carves_one(tmp_path: Path):
    write_cifar_bin(tmp_path / "c", n=10, test=False)
    ds = open_dataset(tmp_path / "c", seed=3)
    assert (len(ds.train), len(ds.test)) == (45, 5)
    assert ds.info["test_carved"] == {"fraction": 0.1, "seed": 3}


def test_cifar_bad_files(tmp_path: Path, monkeypatch):
    write_cifar_bin(tmp_path / "c")
    batch = tmp_path / "c" / "data_batch_3.bin"
    batch.write_bytes(batch.read_bytes()[:-100])
    with pytest.raises(VaekitError, match=r"not a whole number of 3073-byte CIFAR records"):
        open_dataset(tmp_path / "c")
    # Read through the registry, files named like the official batches must be them.
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path / "data"))
    write_cifar_bin(tmp_path / "data" / "cifar10")
    with pytest.raises(VaekitError, match="checksum mismatch"):
        open_dataset("cifar10")


def test_cifar_python_batches_with_the_safe_unpickler(tmp_path: Path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(py_batch(3, i), protocol=2))
    (folder / "test_batch").write_bytes(pickle.dumps(py_batch(2, 9), protocol=2))
    ds = open_dataset(folder)
    assert (len(ds.train), len(ds.test)) == (15, 2)
    np.testing.assert_array_equal(
        ds.test.images.numpy(), py_batch(2, 9)[b"data"].reshape(2, 3, 32, 32)
    )


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_that_runs_code_is_refused(tmp_path: Path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    marker = tmp_path / "pwned"
    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(py_batch(3, i), protocol=2))
    evil = {b"data": _Payload(marker), b"labels": [0]}
    (folder / "data_batch_4").write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(VaekitError, match=r"not a safe data pickle.*nothing was run"):
        open_dataset(folder)
    assert not marker.exists()
    (folder / "data_batch_4").write_bytes(pickle.dumps(py_batch(3, 4), protocol=2)[:50])
    with pytest.raises(VaekitError, match="truncated or corrupt pickle"):
        open_dataset(folder)


def test_svhn_mat_files(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path))
    x = write_svhn(tmp_path / "svhn", n_train=10, n_test=2)
    register_checksums(monkeypatch, "svhn", tmp_path / "svhn")
    ds = open_dataset("svhn")
    assert ds.shape == (3, 32, 32)
    assert ds.train.labels.tolist() == [*range(1, 10), 0]  # SVHN's 10 is the digit 0
    assert ds.test.labels.tolist() == [1, 2]
    np.testing.assert_array_equal(ds.train.images[1, 2].numpy(), x[:, :, 2, 1])
    (tmp_path / "svhn" / "test_32x32.mat").write_bytes(b"MATLAB 5.0 junk")
    register_checksums(monkeypatch, "svhn", tmp_path / "svhn")  # junk with the right checksum
    with pytest.raises(VaekitError, match=r"test_32x32\.mat: not a readable \.mat file"):
        open_dataset("svhn")


def test_olivetti_orientation(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path))
    images = write_olivetti(tmp_path / "olivetti", n=20)  # each marked at row 5, column 40
    with pytest.raises(VaekitError, match=r"olivettifaces\.mat: checksum mismatch \(sha256"):
        open_dataset("olivetti")
    register_checksums(monkeypatch, "olivetti", tmp_path / "olivetti")
    ds = open_dataset("olivetti", seed=0)
    assert ds.shape == (1, 64, 64) and len(ds.train) + len(ds.test) == 20
    assert int(ds.train.images[0, 0, 5, 40]) == 255
    all_images = torch.cat([ds.train.images, ds.test.images])[:, 0]
    assert sorted(map(bytes, all_images.numpy())) == sorted(map(bytes, images))
    assert sorted(set(ds.train.labels.tolist() + ds.test.labels.tolist())) == [0, 1]


def _png(path: Path, size: tuple[int, int], color: tuple[int, int, int] | int, mode: str = "RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)


def test_image_folder_labels_sizes_and_bad_files(tmp_path: Path):
    root = tmp_path / "pets"
    for i in range(4):
        _png(root / "cat" / f"{i}.png", (20, 30), (200, 10, 10))
        _png(root / "dog" / f"{i}.jpg", (40, 40), (10, 10, 200))
    (root / "dog" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(VaekitError, match=r"images of several sizes.*give --image-size"):
        open_dataset(root)
    with pytest.warns(UserWarning, match="skipped .*broken.png"):
        ds = open_dataset(root, image_size=8, seed=0)
    assert (
        ds.shape == (3, 8, 8) and ds.info["skipped"] == 1 and ds.info["classes"] == ["cat", "dog"]
    )
    images = torch.cat([ds.train.images, ds.test.images])
    labels = torch.cat([ds.train.labels, ds.test.labels])
    assert len(images) == 8 and sorted(labels.tolist()) == [0] * 4 + [1] * 4
    red = images[labels == 0].float().mean((0, 2, 3))
    assert red[0] > 150 and red[2] < 50  # RGB kept in channel order
    assert ds.train.mapped  # memory-mapped from the prepared array


def test_gray_folder_without_size_and_no_images(tmp_path: Path):
    for i in range(6):
        _png(tmp_path / "g" / f"{i}.png", (12, 10), i * 40, mode="L")
    ds = open_dataset(tmp_path / "g")
    assert ds.shape == (1, 10, 12) and ds.train.labels is None  # H x W kept as they are
    (tmp_path / "empty").mkdir()
    with pytest.raises(VaekitError, match=r"no dataset found .*or PNG/JPEG images"):
        open_dataset(tmp_path / "empty")


def test_prepare_is_done_once_and_an_interrupted_one_leaves_nothing(tmp_path: Path, monkeypatch):
    for i in range(5):
        _png(tmp_path / "f" / f"{i}.png", (8, 8), (i * 50, 0, 0))
    calls = []
    real = prepare_module.decode_image

    def dies(path, decode):
        calls.append(path)
        if len(calls) > 2:
            raise KeyboardInterrupt
        return real(path, decode)

    monkeypatch.setattr(prepare_module, "decode_image", dies)
    with pytest.raises(KeyboardInterrupt):
        open_dataset(tmp_path / "f")
    prepared = prepare_module.cache_dir() / "prepared"
    assert not any((p / "header.json").exists() for p in prepared.iterdir())
    assert not list(prepared.glob(".*"))  # the temporary folder is gone too
    monkeypatch.setattr(prepare_module, "decode_image", real)
    first = open_dataset(tmp_path / "f")
    monkeypatch.setattr(prepare_module, "decode_image", dies)  # must not be called again
    calls.clear()
    again = open_dataset(tmp_path / "f")
    assert calls == [] and again.info["prepared"] == first.info["prepared"]


def test_a_killed_prepare_of_other_options_is_cleaned_up_by_the_next(tmp_path: Path):
    """A prepare killed (SIGTERM, kill -9) leaves its build folder; one of other options
    (another --image-size) was never removed, since no later prepare built that name."""
    for i in range(3):
        _png(tmp_path / "f" / f"{i}.png", (8, 8), (i * 50, 0, 0))
    prepared = prepare_module.cache_dir() / "prepared"
    prepared.mkdir(parents=True, exist_ok=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    left = prepared / f".other-0123456789abcdef.tmp-{dead}"
    (left / "part").mkdir(parents=True)
    alive = prepared / f".other-0123456789abcdef.tmp-{os.getpid()}"  # (a prepare running)
    alive.mkdir()
    open_dataset(tmp_path / "f", image_size=4)
    assert not left.exists() and alive.exists()
    alive.rmdir()


def test_celeba_with_its_partition(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path))
    root = tmp_path / "celeba"
    lines = []
    for i in range(6):
        _png(root / "img_align_celeba" / f"{i:06d}.jpg", (178, 218), (i * 40, 100, 50))
        lines.append(f"{i:06d}.jpg {[0, 0, 0, 1, 2, 2][i]}")
    (root / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    ds = open_dataset("celeba", image_size=16)
    assert ds.shape == (3, 16, 16)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (3, 1, 2)
    # A changed partition is a changed dataset: prepared anew, not reused.
    (root / "list_eval_partition.txt").write_text("\n".join(f"{i:06d}.jpg 0" for i in range(6)))
    assert len(open_dataset("celeba", image_size=16).val or []) == 0
    (root / "list_eval_partition.txt").write_text("000001.jpg 7\n")
    with pytest.raises(VaekitError, match=r"expected .FILE 0\|1\|2."):
        open_dataset("celeba", image_size=16)


def test_color_folder_end_to_end_and_data_prepare(tmp_path: Path, capsys):
    for i in range(30):
        _png(tmp_path / "imgs" / f"{i}.png", (10 + i % 3, 12), (i * 8, 255 - i * 8, 40))
    assert vaekit("data", "prepare", tmp_path / "imgs", "--image-size", "8") == 0
    prepared = capsys.readouterr().out.strip().splitlines()[-1].removeprefix("prepared: ")
    out = tmp_path / "run"
    assert vaekit("train", "--data", prepared, "--model", "conv", "--channels", "4",
                  "--epochs", "1", "--out", out, "--quiet") == 0  # fmt: skip
    assert Image.open(out / "samples.png").mode == "RGB"
    assert vaekit("train", "--data", tmp_path / "imgs", "--image-size", "8", "--model", "mlp",
                  "--epochs", "1", "--out", tmp_path / "r2", "--quiet") == 0  # fmt: skip
    assert '"image_size": 8' in (tmp_path / "r2" / "config.json").read_text()
    assert vaekit("reconstruct", tmp_path / "r2", "-n", "4", "-o", tmp_path / "r.png") == 0


def test_bad_inputs_through_the_command(tmp_path: Path, capsys):
    write_cifar_bin(tmp_path / "c")
    batch = tmp_path / "c" / "test_batch.bin"
    batch.write_bytes(batch.read_bytes()[:5000])
    assert vaekit("train", "--data", tmp_path / "c", "--out", tmp_path / "r") == 1
    err = capsys.readouterr().err
    assert "test_batch.bin" in err and len(err.strip().splitlines()) == 1
    for i in range(3):
        _png(tmp_path / "imgs" / f"{i}.png", (8, 8), (i, i, i))
    (tmp_path / "imgs" / "bad.png").write_bytes(b"\x89PNG broken")
    result = subprocess.run(
        [sys.executable, "-m", "vaekit", "data", "prepare", str(tmp_path / "imgs")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    bad = tmp_path / "imgs" / "bad.png"
    assert f"vaekit: warning: skipped {bad}: not a readable image\n" in result.stderr


def test_a_pickle_cannot_build_arrays_over_raw_memory(tmp_path: Path):
    class ObjectArray:
        def __reduce__(self):
            return (np.ndarray, ((1,), np.dtype("O"), b"AAAAAAAA"))

    class RawArray:
        def __reduce__(self):
            return (np.ndarray, ((2,), np.dtype("u1"), b"AA"))

    from vaekit.data.safe_pickle import load_safe_pickle

    for payload in (ObjectArray(), RawArray()):
        path = tmp_path / "p.pkl"
        path.write_bytes(pickle.dumps({b"data": payload}, protocol=2))
        with pytest.raises(VaekitError, match=r"not a safe data pickle|corrupt pickle"):
            load_safe_pickle(path)
    cycle: list = []
    cycle.append(cycle)
    (tmp_path / "c.pkl").write_bytes(pickle.dumps(cycle, protocol=2))
    assert load_safe_pickle(tmp_path / "c.pkl")[0] is not None  # a cycle is plain data


def test_folder_images_keep_their_orientation_and_centre(tmp_path: Path):
    pixels = np.full((20, 30, 3), 255, np.uint8)  # H 20, W 30: the centre square is x 5..24
    pixels[:10, 5:15] = (200, 0, 0)  # top-left of the square: bright red
    pixels[10:, 5:15] = (100, 0, 0)  # bottom-left: dark red
    pixels[:, 15:25] = (0, 0, 200)  # right half: blue
    for i in range(3):
        Image.fromarray(pixels).save(tmp_path / f"{i}.png")
    ds = open_dataset(tmp_path, image_size=10)
    image = torch.cat([ds.train.images, ds.test.images])[0].int()
    assert image.shape == (3, 10, 10)
    assert image[0, 1, 1] > 180 and image[0, 8, 1] < 120  # red, bright above dark
    assert image[2, 5, 8] > 180 and image[0, 5, 8] < 20  # blue on the right
    assert image.min() < 20  # no white border: the sides were cropped away
    # --crop none squeezes the whole 30x20 image into 10x10: the white sides stay.
    whole = open_dataset(tmp_path, image_size=10, crop="none")
    squeezed = torch.cat([whole.train.images, whole.test.images])[0].int()
    assert (squeezed[:, :, 0] > 230).all() and (squeezed[:, :, -1] > 230).all()
    assert whole.info["crop"] == "none" and whole.info["prepared"] != ds.info["prepared"]


def test_prepared_arrays_keep_their_value_range(tmp_path: Path, capsys):
    assert vaekit("data", "prepare", "digits") == 0
    prepared = capsys.readouterr().out.strip().splitlines()[-1].removeprefix("prepared: ")
    ds = open_dataset(prepared)
    assert ds.info["max_value"] == 16 and int(ds.train.images.max()) == 16
    assert ds.train.mapped and (len(ds.train), len(ds.test)) == (1617, 180)


def test_a_copied_or_touched_folder_is_the_same_data(tmp_path: Path, capsys):
    """A run records the checksum of its images' content, not of its files' times: a copy
    of the folder (new times) resumes, and a file touched is still the run's data."""
    import json
    import os
    import shutil

    for i in range(12):
        _png(tmp_path / "imgs" / ("a" if i % 2 else "b") / f"{i}.png", (8, 8), (i * 20, 9, 9))
    out = tmp_path / "run"
    tiny = ("--model", "mlp", "--hidden-dims", "8", "--latent-dim", "2", "--quiet", "--no-report")
    assert vaekit("train", "--data", tmp_path / "imgs", "--epochs", "1", "--out", out, *tiny) == 0
    recorded = json.loads((out / "config.json").read_text())["data"]
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "imgs", copy, copy_function=shutil.copyfile)  # times not kept
    os.utime(copy / "a" / "1.png", (1, 1))
    assert vaekit("train", "--out", out, "--resume", "--epochs", "2", "--data", copy) == 0
    assert json.loads((out / "config.json").read_text())["data"]["sha256"] == recorded["sha256"]
    os.utime(tmp_path / "imgs" / "a" / "1.png", (2, 2))  # touched: prepared again, same data
    assert vaekit("eval", out, "--iw-samples", "1", "--quiet") == 0
    assert json.loads((out / "eval.json").read_text())["data_is_the_runs"] is True
    # other pixels in the copy: not the run's data
    _png(copy / "a" / "1.png", (8, 8), (255, 255, 255))
    capsys.readouterr()
    assert vaekit("train", "--out", out, "--resume", "--epochs", "3", "--data", copy) == 1
    assert "differs from the data this run was trained on" in capsys.readouterr().err
    # the run's own folder changed in place: evaluating it says what to do
    _png(tmp_path / "imgs" / "a" / "1.png", (8, 8), (255, 255, 255))
    assert vaekit("eval", out, "--iw-samples", "1", "--quiet") == 1
    assert "it has changed since: restore it, or give other data" in capsys.readouterr().err


def test_a_run_that_recorded_its_folders_fingerprint_still_opens_it(tmp_path: Path):
    """Runs made before the content was hashed recorded the prepared data's fingerprint."""
    from vaekit.api.run import reopen_dataset

    for i in range(6):
        _png(tmp_path / "g" / f"{i}.png", (8, 8), i * 40, mode="L")
    ds = open_dataset(tmp_path / "g")
    assert ds.info["sha256"] != ds.info["fingerprint"]
    for recorded, ok in (
        (ds.info["fingerprint"], True),
        (ds.info["sha256"], True),
        ("0" * 64, False),
    ):
        data = {"name": str(tmp_path / "g"), "sha256": recorded, "test_carved": {"fraction": 0.1}}
        if ok:
            assert len(reopen_dataset({"data": data}).train) == len(ds.train)
        else:
            with pytest.raises(VaekitError, match="differs from the data"):
                reopen_dataset({"data": data})


def test_hidden_files_and_folders_are_not_images_of_the_folder(tmp_path: Path):
    """A thumbnail cache or a notebook's checkpoints inside an image folder: neither a class
    nor a reason to drop the labels, and their images are not trained on."""
    for i in range(6):
        _png(tmp_path / "pets" / ("cat" if i % 2 else "dog") / f"{i}.png", (8, 8), i * 40, "L")
    _png(tmp_path / "pets" / "cat" / ".thumbs" / "0.png", (8, 8), 0, "L")
    _png(tmp_path / "pets" / ".hidden" / "x.png", (8, 8), 0, "L")
    _png(tmp_path / "pets" / "dog" / ".x.png", (8, 8), 0, "L")
    ds = open_dataset(tmp_path / "pets")
    assert ds.info["classes"] == ["cat", "dog"] and len(ds.train) + len(ds.test) == 6


def test_a_class_folder_that_is_a_link_is_read(tmp_path: Path):
    """A class kept elsewhere and linked into the folder (ln -s): its images and its class
    are read, where they were left out without a word; a link back up is walked once."""
    for i in range(4):
        _png(tmp_path / "pets" / "cat" / f"{i}.png", (8, 8), i * 40, "L")
        _png(tmp_path / "elsewhere" / "dogs" / f"{i}.png", (8, 8), 200 - i * 40, "L")
    (tmp_path / "pets" / "dog").symlink_to(tmp_path / "elsewhere" / "dogs")
    (tmp_path / "pets" / "cat" / "up").symlink_to(tmp_path / "pets")  # no loop
    ds = open_dataset(tmp_path / "pets")
    assert ds.info["classes"] == ["cat", "dog"] and len(ds.train) + len(ds.test) == 8
    only = tmp_path / "only"  # a folder holding nothing but a link to the images
    only.mkdir()
    (only / "dogs").symlink_to(tmp_path / "elsewhere" / "dogs")
    assert len(open_dataset(only).train) + len(open_dataset(only).test) == 4


def test_class_subfolders_of_subfolders_say_why_they_give_no_labels(tmp_path: Path, capsys):
    """pets/cat/indoor/0.png: read without labels, where that went unsaid (--conditional then
    said only that the data has none); `data info` names a folder's classes by index."""
    for i in range(4):
        _png(tmp_path / "pets" / "cat" / "indoor" / f"{i}.png", (8, 8), i * 40, "L")
        _png(tmp_path / "pets" / "dog" / f"{i}.png", (8, 8), 200 - i * 40, "L")
    with pytest.warns(UserWarning, match=r"4 images lie deeper than one subfolder \(such as "):
        assert open_dataset(tmp_path / "pets").train.labels is None
    (tmp_path / "pets" / "cat" / "indoor").rename(tmp_path / "pets" / "indoor")
    assert vaekit("data", "info", tmp_path / "pets") == 0
    assert "classes 2: 0 dog, 1 indoor" in capsys.readouterr().out  # cat holds none now
    for i in range(2):
        _png(tmp_path / "pets" / "cat" / f"{i}.png", (8, 8), 90, "L")
    assert vaekit("data", "info", tmp_path / "pets") == 0
    assert "classes 3: 0 cat, 1 dog, 2 indoor" in capsys.readouterr().out


def test_auto_color_looks_at_every_image(tmp_path: Path):
    """--color auto is RGB when any image has color, also past the first few hundred."""
    for i in range(230):
        _png(tmp_path / "c" / f"{i:03d}.png", (8, 8), i % 200, "L")
    _png(tmp_path / "c" / "999.png", (8, 8), (200, 10, 10))
    assert open_dataset(tmp_path / "c", image_size=8).shape == (3, 8, 8)


def test_a_folder_prepared_before_its_content_was_hashed_gets_the_hash(tmp_path: Path):
    """A cache made by an older vaekit has no content_sha256 in its header: a run made now
    records the content's checksum all the same, and the header gets it."""
    import json

    for i in range(6):
        _png(tmp_path / "g" / f"{i}.png", (8, 8), i * 40, mode="L")
    fresh = open_dataset(tmp_path / "g").info
    header_path = Path(fresh["prepared"]) / "header.json"
    header = json.loads(header_path.read_text())
    del header["content_sha256"]  # as an older version wrote it
    header_path.write_text(json.dumps(header))
    again = open_dataset(tmp_path / "g").info
    assert again["sha256"] == fresh["sha256"] != again["fingerprint"]
    assert json.loads(header_path.read_text())["content_sha256"] == fresh["sha256"]


def test_decoding_options_for_data_that_is_not_image_files_are_refused(tmp_path: Path, capsys):
    """--image-size, --color and --crop decode image files; given for an array (a .npy, a
    registered array dataset) they did nothing, and config.json recorded them as applied."""
    np.save(tmp_path / "a.npy", np.random.default_rng(0).integers(0, 256, (40, 16, 16), np.uint8))
    npy = tmp_path / "a.npy"
    for source, given in [
        (npy, ["--image-size", "8"]),
        ("digits", ["--color", "rgb"]),
        (npy, ["--crop", "none", "--image-size", "4"]),
    ]:
        out = tmp_path / "R"
        assert vaekit("train", "--data", source, *given, "--out", out, "--epochs", "1") != 0
        err = capsys.readouterr().err.strip()
        assert " is for image files" in err and err.count("\n") == 0
        assert not out.exists()
        assert vaekit("data", "info", source, *given) != 0
        assert " is for image files" in capsys.readouterr().err
    # an --image-size past the largest is refused before anything is decoded
    _png(tmp_path / "imgs" / "0.png", (8, 8), 0, "L")
    assert vaekit("data", "info", tmp_path / "imgs", "--image-size", "100000") != 0
    assert "expected at most 1024, got 100000" in capsys.readouterr().err
    with pytest.raises(VaekitError, match="--image-size must be 1 to 1024, got 5000"):
        open_dataset(tmp_path / "imgs", image_size=5000)


def test_classes_of_a_folder_are_taken_by_their_names(tmp_path: Path, capsys):
    """`sample --label dog` and `anomaly --normal-labels cat` name the folder's classes, as
    `data info` lists them; the same images and scores as by index, and an unknown name is
    refused naming the classes (they took indices only)."""
    for i in range(24):
        _png(tmp_path / "pets" / ("cat" if i % 3 else "dog") / f"{i}.png", (8, 8), i * 10, "L")
    run, out = tmp_path / "run", tmp_path / "out"
    train = ["--epochs", "1", "--model", "mlp", "--hidden-dims", "8", "--latent-dim", "2"]
    assert vaekit("train", "--data", tmp_path / "pets", "--out", run, "--conditional", *train) == 0
    out.mkdir()
    for label in ("dog", "1"):
        assert vaekit("sample", run, "--label", label, "-n", "4", "-o", out / f"{label}.png") == 0
    assert (out / "dog.png").read_bytes() == (out / "1.png").read_bytes()
    capsys.readouterr()
    assert vaekit("sample", run, "--label", "cow", "-o", out / "cow.png") == 1
    err = capsys.readouterr().err
    assert "no class named 'cow' (the run's classes by index: 0 cat, 1 dog)" in err
    plain = tmp_path / "plain"  # anomaly detection is for an unconditional model
    assert vaekit("train", "--data", tmp_path / "pets", "--out", plain, *train) == 0
    for label in ("cat", "0"):
        args = ["-o", out / f"{label}.csv", "--normal-labels", label]
        assert vaekit("anomaly", plain, *args) == 0
    assert "AUROC" in capsys.readouterr().out
    assert (out / "cat.csv").read_text() == (out / "0.csv").read_text()
    import vaekit as api  # (names in a NumPy array, as in a list)

    labels = np.array(["dog", "cat"])
    assert api.load(run).labels(labels, 2).tolist() == [1, 0]
    assert vaekit("anomaly", plain, "-o", out / "x.csv", "--normal-labels", "cat,cow") == 1
    assert "no class named 'cow'" in capsys.readouterr().err
    assert vaekit("anomaly", plain, "-o", out / "x.csv", "--normal-labels", "cat,dog") == 1
    assert "--normal-labels cat,dog: every input is normal" in capsys.readouterr().err


def test_classes_named_in_digits_are_given_by_index(tmp_path: Path, capsys):
    """Folders 3/ and 7/: digits stay an index, as before names were taken (a script's
    `--normal-labels 1` kept its meaning); the refusal lists the classes by index and name,
    and messages repeat what the user wrote. NumPy arrays of names are names in Python."""
    import vaekit as api

    for i in range(24):
        _png(tmp_path / "d" / ("3" if i % 3 else "7") / f"{i}.png", (8, 8), i * 10, "L")
    run = tmp_path / "run"
    train = ["--epochs", "1", "--model", "mlp", "--hidden-dims", "8", "--latent-dim", "2"]
    assert vaekit("train", "--data", tmp_path / "d", "--out", run, "--conditional", *train) == 0
    capsys.readouterr()
    assert vaekit("sample", run, "--label", "3", "-o", tmp_path / "s.png") == 1
    err = capsys.readouterr().err
    assert "class labels must be in 0..1; the run's classes by index: 0 3, 1 7" in err
    model = api.load(run)
    assert model.labels(np.array(["1", "0"]), 2).tolist() == [1, 0]
    with pytest.raises(VaekitError, match=r"must be in 0\.\.1; the run's classes by index"):
        model.labels(np.array(["7", "3"]), 2)
    with pytest.raises(VaekitError, match="no class named 'cow'"):
        model.labels(np.array(["cow", "1"]), 2)
