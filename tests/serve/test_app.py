"""The server's API through Starlette's test client: what the page gets, and a clean 4xx for
everything a client can get wrong."""

from __future__ import annotations

import base64
import concurrent.futures
import io
import json
import os
import sys
import tempfile
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image
from starlette.testclient import TestClient

from tests.conftest import png_declaring
from tests.serve.conftest import png_of, quarter_png
from vaekit.serve.app import create_app
from vaekit.serve.uploads import UploadError, check_name


def decoded(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


@pytest.fixture(scope="module")
def client(explorer):
    app = create_app(explorer, max_upload_bytes=50_000, allowed_hosts=["testserver"])
    with TestClient(app) as c:
        yield c


def test_info_holds_the_map_the_sliders_and_the_calibrated_threshold(client, explorer, served_run):
    info = client.get("/api/info").json()
    assert info["latent_dim"] == 3 and info["map"]["axes"] == ["PC1", "PC2"]
    assert info["uploads"] is True  # an image model's page takes an image file
    assert len(info["map"]["points"]) == len(info["map"]["labels"]) == 40  # the test split
    assert set(info["map"]["labels"]) <= {0, 1, 2, 3}
    scores = [s["score"] for s in info["sliders"]]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    assert info["ranked_by"] == "KL (nats)"
    assert all(s["low"] < s["high"] for s in info["sliders"])
    # No anomaly.json existed: the threshold was calibrated on first use and saved.
    saved = json.loads((served_run / "anomaly.json").read_text())
    assert info["anomaly"]["threshold"] == pytest.approx(saved["threshold"])
    assert info["anomaly"]["score"] == saved["score"] == "elbo"


def test_a_map_point_decodes_through_the_plane(client, explorer):
    answer = client.post("/api/decode", json={"point": [0.5, -0.25]}).json()
    z = torch.tensor(answer["z"], dtype=torch.float64)
    plane = explorer.plane
    # On the plane at (0.5, -0.25); off it, at the mean of the test set's posterior means.
    assert plane.to_plane(z[None])[0].tolist() == pytest.approx([0.5, -0.25], abs=1e-4)
    off = (z - plane.origin) - (z - plane.origin) @ plane.basis.T @ plane.basis
    assert off.abs().max() < 1e-4
    image = decoded(answer["image"])
    expected = explorer.model.decode(z[None].float())[0, 0]
    zoom = image.shape[0] // 16
    assert image.shape == (16 * zoom, 16 * zoom)
    assert np.abs(image[::zoom, ::zoom] / 255 - expected.numpy()).max() <= 1 / 255 + 1e-6
    # The same latent, sent as z, gives the same image and the point back.
    again = client.post("/api/decode", json={"z": answer["z"]}).json()
    assert again["point"] == pytest.approx([0.5, -0.25], abs=1e-3)
    assert np.array_equal(decoded(again["image"]), image)


def test_different_points_decode_to_different_images(client):
    far = [client.post("/api/decode", json={"point": [u, 0.0]}).json() for u in (-3.0, 3.0)]
    assert not np.array_equal(decoded(far[0]["image"]), decoded(far[1]["image"]))


def test_samples_are_fresh_each_time(client):
    a, b = (client.post("/api/sample", json={}).json() for _ in range(2))
    assert a["seed"] != b["seed"]
    assert not np.array_equal(decoded(a["image"]), decoded(b["image"]))
    assert client.post("/api/sample", json={"n": 4}).status_code == 200


def test_an_uploaded_png_comes_back_reconstructed_and_scored(client, explorer):
    body = quarter_png(corner=3)
    answer = client.post(
        "/api/upload?name=corner.png", content=body, headers={"content-type": "image/png"}
    ).json()
    assert answer["name"] == "corner.png" and answer["score_name"] == "elbo"
    x = torch.from_numpy(np.asarray(Image.open(io.BytesIO(body)), np.float32) / 255)[None, None]
    expected = float(explorer.detector.decision_function(x)[0])
    assert answer["score"] == pytest.approx(expected, rel=1e-5)
    assert answer["anomalous"] == (answer["score"] > answer["threshold"])
    for key in ("input", "reconstruction", "uncertainty"):
        assert decoded(answer[key]).shape[0] >= 16
    recon = explorer.model.reconstruct(x)[0, 0].numpy()
    zoom = decoded(answer["reconstruction"]).shape[0] // 16
    assert np.abs(decoded(answer["reconstruction"])[::zoom, ::zoom] / 255 - recon).max() < 2 / 255


def test_a_color_image_of_another_size_is_converted(client):
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[:, 30:] = (250, 250, 250)
    answer = client.post("/api/upload?name=wide.png", content=png_of(rgb))
    assert answer.status_code == 200
    assert decoded(answer.json()["input"]).ndim == 2  # gray, as the model's images


def test_a_pure_noise_image_scores_above_a_training_like_one(client):
    noise = np.random.default_rng(0).integers(0, 256, (16, 16), dtype=np.uint8)
    scores = [
        client.post("/api/upload", content=body).json()["score"]
        for body in (quarter_png(corner=1), png_of(noise))
    ]
    assert scores[1] > scores[0]


# A 30 x 30 RGBA PNG with one byte of its chunk names changed and its end cut off.
BROKEN_CHUNK = (
    "iVBORw0KGgoAAAANSUhEUgAAAB4AAAAeCAYAAAA7MK6iAAAAGklEQVR4nO3BMQEAAADCoPVPgG8GoAAAAOANDi4AAWSB"
    "Pj4AAAAASUVO"
)


@pytest.mark.parametrize(
    ("body", "name", "status", "words"),
    [
        (os.urandom(3000), "random.png", 415, "not an image"),
        (b"just some text\n" * 10, "notes.txt", 415, "not an image"),
        (b"%PDF-1.4\n" + b"0" * 100, "paper.pdf", 415, "not an image"),
        (b"", "empty.png", 400, "empty"),
        (quarter_png()[:60], "cut.png", 415, "damaged"),
        # a damaged chunk name: PIL raises SyntaxError, which was a 500 (and "a bug in vaekit"
        # at the command line)
        (base64.b64decode(BROKEN_CHUNK), "broken.png", 415, "damaged"),
        (quarter_png(), "../../etc/passwd", 400, "path"),
        (quarter_png(), "..\\windows\\x.png", 400, "path"),
        (quarter_png(), "/abs/x.png", 400, "path"),
        (quarter_png(), "a\x00b.png", 400, "control"),
        (quarter_png(), "x" * 300, 400, "longer"),
    ],
)
def test_bad_uploads_get_a_clean_4xx(client, body, name, status, words):
    answer = client.post("/api/upload", params={"name": name}, content=body)
    assert answer.status_code == status
    assert words in answer.json()["error"]


def test_oversized_bodies_are_refused_before_they_are_read(client):
    big = b"\x89PNG" + b"\0" * 60_000
    answer = client.post("/api/upload?name=big.png", content=big)
    assert answer.status_code == 413 and "at most 50,000" in answer.json()["error"]

    def chunks():  # no Content-Length: refused as the body streams in
        for _ in range(100):
            yield b"\0" * 1000

    streamed = client.post("/api/upload?name=big.png", content=chunks())
    assert streamed.status_code == 413 and "more than 50,000" in streamed.json()["error"]
    too_many_pixels = png_of(np.zeros((6000, 5000), np.uint8))
    assert len(too_many_pixels) < 50_000
    answer = client.post("/api/upload?name=huge.png", content=too_many_pixels)
    assert answer.status_code == 413 and "too large" in answer.json()["error"]
    # Past PIL's own bound (~179M pixels), where PIL refuses to open it: still too large.
    answer = client.post("/api/upload?name=huge.png", content=png_declaring(20000, 20000))
    assert answer.status_code == 413
    assert answer.json()["error"].startswith("huge.png: too large: more than 178,956,970 pixels")


def test_uploads_never_touch_the_disk(client, tmp_path, monkeypatch, served_run):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = sorted(p.name for p in served_run.iterdir())
    # Every file opened for writing while the uploads are handled, wherever it is and even
    # if deleted at once (Python's audit events: open() and os.open(), as tempfile uses).
    opened: list[str] = []
    recording = True
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND

    def hook(event: str, args: tuple) -> None:
        if recording and event == "open":
            path, mode, flags = args
            if (isinstance(mode, str) and set(mode) & set("wax+")) or (flags or 0) & writes:
                opened.append(str(path))

    sys.addaudithook(hook)  # (a hook stays for the process: it records nothing after this)
    try:
        files = {"file": ("x.png", quarter_png(), "image/png")}
        assert client.post("/api/upload", files=files).status_code == 415  # forms are refused
        assert client.post("/api/upload?name=x.png", content=quarter_png()).status_code == 200
    finally:
        recording = False
    assert opened == []
    assert list(tmp_path.iterdir()) == []
    assert sorted(p.name for p in served_run.iterdir()) == before


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/decode", b"not json", 400),
        ("/api/decode", b"[1, 2]", 400),
        ("/api/decode", b'{"nothing": 1}', 400),
        ("/api/decode", b'{"point": [1]}', 400),
        ("/api/decode", b'{"point": [1, "a"]}', 400),
        ("/api/decode", b'{"point": [NaN, 0]}', 400),
        ("/api/decode", b'{"point": [1e308, 0]}', 400),
        ("/api/decode", b'{"z": [0, 0]}', 400),
        ("/api/decode", b'{"z": [true, 0, 0]}', 400),
        ("/api/decode", b'{"z": "' + b"0" * 70_000 + b'"}', 413),
        ("/api/decode", b'{"z": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", 400),  # too deep
        ("/api/sample", b"[" * 60_000, 400),
        ("/api/sample", b'{"n": 0}', 400),
        ("/api/sample", b'{"n": 100000}', 400),
        ("/api/sample", b'{"n": "many"}', 400),
    ],
)
def test_bad_requests_get_a_clean_4xx(client, path, body, status):
    answer = client.post(path, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status
    assert answer.json()["error"]


def test_the_page_and_its_files_and_nothing_else(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="map"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN: everything is local
    for name in ("explorer.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    assert "http" not in client.get("/static/explorer.js").text
    assert client.get("/static/secret.py").status_code == 404
    assert client.get("/static/..%2F..%2Fapp.py").status_code == 404
    assert client.get("/nowhere").status_code == 404
    assert client.get("/api/upload").status_code == 405


def test_only_loopback_host_names_are_answered(explorer):
    app = create_app(explorer)
    assert TestClient(app, base_url="http://127.0.0.1:8000").get("/api/info").status_code == 200
    assert TestClient(app, base_url="http://localhost:8000").get("/").status_code == 200
    assert TestClient(app, base_url="http://evil.example").get("/api/info").status_code == 400


def test_a_full_queue_answers_503(explorer, monkeypatch):
    """--queue 1: one request runs and one waits; a third gets 503 (with --queue N only N - 1
    could wait: the running one was counted among them)."""
    release, inside = threading.Event(), threading.Semaphore(0)

    def held(n):  # the model call, held until released
        inside.release()
        release.wait(30)
        return {"n": n}

    monkeypatch.setattr(explorer, "sample", held)
    app = create_app(explorer, queue=1, allowed_hosts=["testserver"])
    with TestClient(app) as c, concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(c.post, "/api/sample", json={"n": 1})
        assert inside.acquire(timeout=30)  # running
        second = pool.submit(c.post, "/api/sample", json={"n": 2})
        time.sleep(1.0)  # (the second reaches the gate: nothing to wait on from outside)
        answer = c.post("/api/sample", json={"n": 3})
        assert answer.status_code == 503 and "busy" in answer.json()["error"]
        assert c.get("/api/info").status_code == 200  # what needs no model call works
        release.set()
        assert [f.result().status_code for f in (first, second)] == [200, 200]


def test_check_name():
    assert check_name(None) == "upload" and check_name("cat photo.JPG") == "cat photo.JPG"
    assert check_name("..dots.png") == "..dots.png"  # no folder in it: a name, not a path
    for bad in ("..", ".", "a/b.png", "../b.png", "C:\\x.png", "x\ny.png"):
        with pytest.raises(UploadError):
            check_name(bad)


def test_serve_checks_its_options_before_loading_anything(tmp_path, capsys):
    from tests.cli.test_cli import vaekit as cli

    assert cli("serve", tmp_path / "no-run", "--port", "70000") == 1
    assert "--port must be in 0..65535 (0: a free port), got 70000" in capsys.readouterr().err
    assert cli("serve", tmp_path / "no-run", "--max-upload-mb", "0") == 1
    assert "--max-upload-mb" in capsys.readouterr().err


def test_a_hierarchical_run_gets_sliders_for_the_layer_its_decoder_reads(tmp_path):
    import vaekit
    from tests.conftest import write_npz
    from vaekit.serve.explorer import Explorer

    data = write_npz(tmp_path / "d.npz", n=200, size=8)
    run = vaekit.train(
        data,
        model="hvae",
        layers=2,
        latent_dim=3,
        hidden_dims=(16,),
        epochs=1,
        out=tmp_path / "h",
        progress=False,
        report=False,
    )
    explorer = Explorer(run.model, run.path)
    info = explorer.info()
    assert info["latent_dim"] == 6 and sorted(s["dim"] for s in info["sliders"]) == [0, 1, 2]
    assert "bottom layer" in info["ranked_by"]
    z = explorer.decode_point([0.1, 0.2])["z"]
    top = [v + 5.0 if d >= 3 else v for d, v in enumerate(z)]  # the top layer: no change
    assert explorer.decode_latent(top)["image"] == explorer.decode_latent(z)["image"]


def test_a_conv_hierarchy_gets_sliders_over_every_layer_since_its_decoder_reads_them_all(
    tmp_path,
):
    import vaekit
    from tests.conftest import write_npz
    from vaekit.serve.explorer import Explorer

    data = write_npz(tmp_path / "d.npz", n=100, size=8)
    run = vaekit.train(data, model="hconv", layers=1, latent_dim=1, channels=(4, 4), depth=1,
                       epochs=1, out=tmp_path / "h", progress=False, report=False)  # fmt: skip
    explorer = Explorer(run.model, run.path)
    info = explorer.info()
    assert info["latent_dim"] == 16 + 4 and "bottom layer" not in info["ranked_by"]
    z = explorer.decode_point([0.1, 0.2])["z"]
    top = [v + 5.0 if d >= 16 else v for d, v in enumerate(z)]  # the top layer moves the image
    assert explorer.decode_latent(top)["image"] != explorer.decode_latent(z)["image"]


def test_a_client_that_hangs_up_mid_body_is_answered_quietly(explorer):
    """A page left during an upload: the body ends in a disconnect. That was an exception out
    of the application (a 47-line traceback on the server's console each time)."""
    import asyncio

    app = create_app(explorer)
    headers = [(b"host", b"127.0.0.1"), (b"content-length", b"30"),
               (b"content-type", b"application/json")]  # fmt: skip
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/api/decode", "raw_path": b"/api/decode",
             "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}  # fmt: skip
    arriving = [{"type": "http.request", "body": b'{"point"', "more_body": True}]
    sent: list[dict] = []

    async def receive():
        return arriving.pop(0) if arriving else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 400


def encoded_test_split(explorer, served_run, monkeypatch) -> tuple[np.ndarray, np.ndarray]:
    """The posterior means (N, Z) of the run's test split, encoded here, and their labels."""
    from vaekit.api.run import reopen_dataset

    monkeypatch.setenv("VAEKIT_CACHE", str(served_run.parent / "cache"))
    test = reopen_dataset(explorer.model.run_config).test
    means = explorer.model.encode(test.images).mean.double().numpy()
    return means, test.labels.numpy()


def test_sliders_span_each_dims_test_means_and_the_map_starts_at_their_mean(
    client, explorer, served_run, monkeypatch
):
    """Each slider runs over its own dimension's 1%..99% quantiles of the test split's
    posterior means, padded by a quarter of that span (at least 0.25); the page starts at the
    means' mean. Every slider taking dimension 0's bottom, a top at the median, or a start at
    the first example's point went unnoticed."""
    means, _ = encoded_test_split(explorer, served_run, monkeypatch)
    info = client.get("/api/info").json()
    low, high = np.quantile(means, 0.01, axis=0), np.quantile(means, 0.99, axis=0)
    pad = np.maximum(high - low, 1.0) * 0.25
    for slider in info["sliders"]:
        d = slider["dim"]
        assert slider["low"] == pytest.approx(low[d] - pad[d], abs=2e-4)
        assert slider["high"] == pytest.approx(high[d] + pad[d], abs=2e-4)
    assert info["start"] == pytest.approx(means.mean(0).tolist(), abs=1e-4)


def test_spread_max_is_the_largest_pixel_spread(client, monkeypatch):
    """The upload's spread_max names the uncertainty map's white: the largest pixel spread,
    not the mean one."""
    from vaekit.serve import explorer as explorer_module

    planted = torch.zeros(1, 1, 16, 16)
    planted[0, 0, 3, 5], planted[0, 0, 10, 2] = 0.5, 0.25  # mean 0.75 / 256, max 0.5

    def spread(vae, x, samples, generator):
        return None, None, planted

    monkeypatch.setattr(explorer_module, "predictive_spread", spread)
    answer = client.post("/api/upload?name=q.png", content=quarter_png()).json()
    assert answer["spread_max"] == 0.5
    image = decoded(answer["uncertainty"])
    zoom = image.shape[0] // 16
    shown = image[::zoom, ::zoom]  # the spread / 0.5: 255 at (3, 5), half of it at (10, 2)
    assert shown[3, 5] == 255 and abs(int(shown[10, 2]) - 128) <= 1
    assert np.count_nonzero(shown) == 2


def test_a_map_of_a_sample_of_the_test_split_labels_each_point_with_its_own_example(
    explorer, served_run, monkeypatch
):
    """With more test examples than Limits.map_points the map shows a sample of them: its
    labels must be the sample's, one per point, not the whole split's."""
    from vaekit.api.model import load
    from vaekit.serve.explorer import Explorer, Limits

    monkeypatch.setenv("VAEKIT_CACHE", str(served_run.parent / "cache"))
    small = Explorer(load(served_run), served_run, limits=Limits(map_points=10))
    info = small.info()
    assert len(info["map"]["points"]) == len(info["map"]["labels"]) == 10
    # Each point is some test example's posterior mean on the plane: that example's label.
    means, labels = encoded_test_split(explorer, served_run, monkeypatch)
    on_plane = small.plane.to_plane(torch.from_numpy(means)).numpy()  # (40, 2)
    for point, label in zip(small.points.numpy(), info["map"]["labels"], strict=True):
        distance = np.linalg.norm(on_plane - point, axis=1)
        assert distance.min() < 1e-4
        assert label == labels[distance.argmin()]


def test_uploads_read_at_once_are_bounded_as_model_calls_are():
    """With no bound on connections (idle ones locked others out), each upload's body is held
    whole while it streams in: at most workers + queue are read at once, 503 past that."""
    import anyio
    from starlette.exceptions import HTTPException

    from vaekit.serve.app import Gate

    async def scenario() -> None:
        gate = Gate(1, 1)
        async with gate.reading(), gate.reading():
            with pytest.raises(HTTPException) as refused:
                async with gate.reading():
                    pass
            assert refused.value.status_code == 503
        async with gate.reading():  # released: admitted again
            assert gate.uploading == 1

    anyio.run(scenario)
