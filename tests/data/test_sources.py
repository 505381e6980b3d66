"""MNIST-family registry entries, array files, and verified downloads from a local server."""

import gzip
import hashlib
import http.server
import threading
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from tests.cli.test_cli import vaekit
from tests.conftest import idx_bytes, write_npz
from tests.data.writers import amat_text
from vaekit.data import fetch as fetch_module
from vaekit.data.datasets import open_dataset
from vaekit.data.formats import read_amat
from vaekit.data.registry import get_spec
from vaekit.errors import VaekitError


def test_amat_reader(tmp_path: Path):
    path = tmp_path / "a.amat"
    path.write_text(amat_text(3))
    images = read_amat(path)
    assert images.shape == (3, 1, 28, 28) and images.dtype == np.uint8 and images.max() == 1
    first = np.array(path.read_text().splitlines()[0].split(), dtype=np.uint8)
    np.testing.assert_array_equal(images[0].ravel(), first)
    path.write_text(amat_text(3)[:-10])
    with pytest.raises(VaekitError, match="expected 784 values"):
        read_amat(path)
    path.write_text("0 1 2\n")
    with pytest.raises(VaekitError, match="other than 0/1"):
        read_amat(path)


def test_binarized_mnist_uses_its_official_validation_split(tmp_path: Path, monkeypatch):
    folder = tmp_path / "binarized-mnist"
    folder.mkdir()
    for split, n in (("train", 12), ("valid", 5), ("test", 4)):
        (folder / f"binarized_mnist_{split}.amat").write_text(amat_text(n))
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path))
    ds = open_dataset("binarized-mnist")
    assert (len(ds.train), len(ds.val), len(ds.test)) == (12, 5, 4)
    assert ds.info["max_value"] == 1 and ds.train.labels is None
    out = tmp_path / "run"
    assert vaekit("train", "--data", "binarized-mnist", "--model", "mlp", "--epochs", "1",
                  "--batch-size", "4", "--out", out, "--quiet") == 0  # fmt: skip
    assert '"num_val": 5' in (out / "config.json").read_text()


def test_mnist_is_found_in_vaekit_data_and_checked(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path))
    folder = tmp_path / "mnist"
    folder.mkdir()
    for f in get_spec("mnist").files:
        (folder / f.name).write_bytes(idx_bytes(np.zeros((2, 28, 28) if "images" in f.role else 2)))
    with pytest.raises(VaekitError, match="checksum mismatch"):
        open_dataset("mnist")


def test_npy_and_npz_files(tmp_path: Path):
    npz = write_npz(tmp_path / "d.npz", n=50, size=6)
    ds = open_dataset(npz)
    assert ds.shape == (1, 6, 6) and ds.train.labels is not None
    assert ds.info["test_carved"]["fraction"] == 0.1 and ds.info["name"] == str(npz.resolve())
    rng = np.random.default_rng(0)
    x = rng.random((20, 3, 4, 4)).astype(np.float32)
    np.savez(tmp_path / "split.npz", x_train=x, x_test=x[:5], y_train=np.arange(20))
    ds = open_dataset(tmp_path / "split.npz")
    assert (len(ds.train), len(ds.test)) == (20, 5) and ds.test.labels is None
    np.save(tmp_path / "x.npy", (x * 255).astype(np.uint8))
    assert open_dataset(str(tmp_path / "x.npy")).info["max_value"] == 255


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"labels": np.arange(3)}, "no image array .* the file has labels"),
        ({"images": np.zeros((4, 4, 4)), "labels": np.arange(3)}, "expected 4 non-negative"),
        ({"images": np.array([{"x": 1}] * 4, dtype=object)}, "not a readable|cannot read"),
        ({"images": np.zeros((4, 4, 4), np.int64)}, "uint8 or float"),
    ],
)
def test_bad_array_files(tmp_path: Path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(VaekitError, match=message):
        open_dataset(tmp_path / "bad.npz")


def test_unknown_file_kinds(tmp_path: Path):
    (tmp_path / "x.tsv").write_text("1\t2\n")
    with pytest.raises(VaekitError, match=r"expected a dataset folder, a \.npy/\.npz file"):
        open_dataset(tmp_path / "x.tsv")
    (tmp_path / "junk.npy").write_bytes(b"nonsense")
    with pytest.raises(VaekitError, match="not a readable"):
        open_dataset(tmp_path / "junk.npy")


# --- downloads, against a server this test starts on 127.0.0.1 ---------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    # path -> (body, Content-Length to claim)
    routes: ClassVar[dict[str, tuple[bytes, int | None]]] = {}

    def do_GET(self):
        body, claimed = self.routes.get(self.path, (None, None))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(claimed if claimed is not None else len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.routes = {}
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler.routes
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def served_dataset(server, monkeypatch, tmp_path):
    """A registry entry 'mnist' whose four files this test's server serves."""
    base, routes = server
    monkeypatch.delenv("VAEKIT_OFFLINE")
    rng = np.random.default_rng(0)
    files, bodies = [], {}
    for f in get_spec("mnist").files:
        shape = (6, 28, 28) if "images" in f.role else (6,)
        raw = idx_bytes(rng.integers(0, 256 if "images" in f.role else 10, shape).astype(np.uint8))
        files.append(replace(f, sha256=hashlib.sha256(raw).hexdigest(), url=f"{base}/{f.name}.gz"))
        bodies[f.name] = gzip.compress(raw)
        routes[f"/{f.name}.gz"] = (bodies[f.name], None)
    spec = replace(get_spec("mnist"), files=tuple(files))
    monkeypatch.setattr(fetch_module, "get_spec", lambda name: spec)
    monkeypatch.setattr("vaekit.kinds.image.data.get_spec", lambda name: spec)
    monkeypatch.setattr("vaekit.api.data.get_spec", lambda name: spec)
    return spec, routes, bodies


def _cache(spec) -> Path:
    return fetch_module.cache_dir() / spec.name


def test_download_success(served_dataset):
    spec, _, bodies = served_dataset
    seen = []
    paths = fetch_module.fetch("mnist", lambda name, done, total: seen.append((name, done, total)))
    assert {p.name for p in paths.values()} == {f"{f.name}.gz" for f in spec.files}
    assert all(p.parent == _cache(spec) for p in paths.values())
    assert seen[-1][1] == seen[-1][2]
    ds = open_dataset("mnist")
    assert (len(ds.train), len(ds.test)) == (6, 6)
    assert sorted(p.name for p in _cache(spec).iterdir()) == sorted(f"{n}.gz" for n in bodies)


def test_truncated_transfer_leaves_nothing(served_dataset):
    spec, routes, bodies = served_dataset
    name = spec.files[0].name
    routes[f"/{name}.gz"] = (bodies[name][:-40], len(bodies[name]))  # the server claims more
    with pytest.raises(VaekitError, match="was cut short"):
        fetch_module.fetch("mnist")
    assert list(_cache(spec).iterdir()) == []


def test_wrong_bytes_fail_the_checksum_and_leave_nothing(served_dataset):
    spec, routes, _ = served_dataset
    name = spec.files[1].name
    routes[f"/{name}.gz"] = (gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07"), None)
    with pytest.raises(VaekitError, match="failed its checksum"):
        fetch_module.fetch("mnist")
    files = sorted(p.name for p in _cache(spec).iterdir())
    assert files == [f"{spec.files[0].name}.gz"]  # the one good file before it is kept


def test_offline_error_names_files_urls_and_folder(served_dataset, monkeypatch, capsys):
    spec, routes, _ = served_dataset
    routes.clear()  # the server answers 404 to everything
    with pytest.raises(VaekitError) as info:
        fetch_module.fetch("mnist")
    message = str(info.value)
    for f in spec.files:
        assert f.name in message and f.url in message
    assert str(_cache(spec)) in message
    monkeypatch.setenv("VAEKIT_OFFLINE", "1")
    assert vaekit("data", "fetch", "mnist") == 1
    err = capsys.readouterr().err
    assert "VAEKIT_OFFLINE" in err and spec.files[0].url in err


def test_data_commands(served_dataset, capsys):
    spec, _, _ = served_dataset
    assert vaekit("data", "list") == 0
    listing = capsys.readouterr().out
    promise = "mnist            missing: `vaekit data fetch mnist` downloads it"
    assert promise in listing.splitlines()
    assert vaekit("data", "info", "mnist") == 1
    assert "missing" in capsys.readouterr().out
    assert vaekit("data", "fetch", "mnist") == 0
    assert str(_cache(spec)) in capsys.readouterr().out
    assert vaekit("data", "info", "mnist") == 0
    info = capsys.readouterr().out
    assert "(ok)" in info and "train       6 images, labelled" in info
