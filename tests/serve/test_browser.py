"""The page in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright)
against `vaekit serve`'s app on a free loopback port, started once for the module.

`make test` installs Chromium where it is missing and sets VAEKIT_REQUIRE_BROWSER=1, so there
a missing browser fails; a bare `pytest` without one skips these tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.serve.conftest import quarter_png
from vaekit.serve.app import create_app
from vaekit.serve.uploads import decode_upload

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def server_url(explorer):
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(explorer), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        message = "no Chromium here: `make test` installs Debian's chromium package"
        if os.environ.get("VAEKIT_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, server_url):
    context = browser.new_context(viewport={"width": 1200, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(server_url + "/")
    page.wait_for_selector("body[data-state=ready]", timeout=15_000)
    yield page
    context.close()
    assert errors == []  # no script error on the page


def updates(page) -> int:
    return int(page.get_attribute("#decoded", "data-updates") or 0)


def wait_until(page, expression: str, timeout: float = 10.0) -> None:
    """Poll a JS expression until it is true. (Not page.wait_for_function: that evaluates
    strings inside the page, which the page's Content-Security-Policy rightly forbids.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.03)


def wait_for_updates(page, more_than: int) -> None:
    wait_until(page, f"Number(document.getElementById('decoded').dataset.updates) > {more_than}")


def test_clicking_the_map_shows_that_point_decoded(page, explorer):
    assert page.get_attribute("#decoded", "src").startswith("data:image/png;base64,")
    before, src = updates(page), page.get_attribute("#decoded", "src")
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + 0.15 * box["width"], box["y"] + 0.2 * box["height"])
    wait_for_updates(page, before)
    assert page.get_attribute("#decoded", "src") != src
    assert "PC1 =" in page.inner_text("#decoded-caption")
    # The image on the page is the one the point decodes to.
    point = page.evaluate("state.point")
    assert page.get_attribute("#decoded", "src") == explorer.decode_point(point)["image"]


def test_dragging_and_sliders_decode_as_they_move(page):
    box = page.locator("#map").bounding_box()
    before = updates(page)
    page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.5 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + 0.5 * box["height"], steps=8)
    page.mouse.up()
    wait_for_updates(page, before + 1)  # several images on the way, at least two
    assert page.locator("#sliders input").count() == 3
    before, z = updates(page), page.evaluate("state.z.slice()")
    slider = page.locator("#sliders input").first
    slider.focus()
    for _ in range(20):
        page.keyboard.press("ArrowRight")
    wait_for_updates(page, before)
    dim = int(slider.get_attribute("data-dim"))
    wait_until(page, f"state.z[{dim}] !== {z[dim]}")


def test_an_uploaded_png_comes_back_with_its_reconstruction_and_score(page, explorer):
    png = quarter_png(corner=2)
    page.set_input_files(
        "#upload", files=[{"name": "corner.png", "mimeType": "image/png", "buffer": png}]
    )
    page.wait_for_selector("#upload-result:not([hidden])", timeout=10_000)
    for name in ("input", "reconstruction", "uncertainty"):
        assert page.get_attribute(f"#upload-{name}", "src").startswith("data:image/png;base64,")
    text = page.inner_text("#upload-score")
    assert "elbo score" in text and "threshold" in text
    expected = explorer.examine(decode_upload(png, explorer.model.shape), "corner.png")
    assert f"{expected['score']:.2f}" in text
    assert page.inner_text("#upload-verdict") == (
        "anomalous" if expected["anomalous"] else "normal"
    )
    assert page.inner_text("#upload-error") == ""


def test_a_non_image_upload_shows_the_error(page):
    page.set_input_files(
        "#upload",
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a picture\n" * 20}],
    )
    wait_until(page, "document.getElementById('upload-error').textContent.length > 0")
    assert "notes.txt: not an image" in page.inner_text("#upload-error")
    assert page.locator("#upload-result").is_hidden()


def test_the_button_draws_fresh_samples(page):
    first = page.get_attribute("#samples", "src")
    page.click("#sample-button")
    wait_until(page, f"document.getElementById('samples').src !== {first!r}")
    assert "seed" in page.inner_text("#samples-caption")


def test_only_the_latest_uploads_answer_is_shown_and_named(page, explorer):
    """A slow upload (a large PNG) answered after a newer one was refused showed its verdict
    under the newer one's error, with no file name to tell whose it was."""
    import io

    import numpy as np
    from PIL import Image

    big = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (2000, 2000), dtype=np.uint8)
    Image.fromarray(noise).save(big, format="PNG")
    page.set_input_files(
        "#upload", files=[{"name": "big.png", "mimeType": "image/png", "buffer": big.getvalue()}]
    )
    page.set_input_files(
        "#upload", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"no\n" * 9}]
    )
    wait_until(page, "document.getElementById('upload-error').textContent.length > 0")
    time.sleep(3)  # the large one's answer comes after: it must not show
    assert "notes.txt" in page.inner_text("#upload-error")
    assert page.locator("#upload-result").is_hidden()
    png = quarter_png(corner=1)
    page.set_input_files(
        "#upload", files=[{"name": "q.png", "mimeType": "image/png", "buffer": png}]
    )
    page.wait_for_selector("#upload-result:not([hidden])", timeout=10_000)
    assert page.inner_text("#upload-score").startswith("q.png: elbo score ")
    assert "(-ELBO in nats)" in page.inner_text("#upload-score")


def test_classes_past_ten_have_colors_of_their_own(page):
    colors = page.evaluate("[...Array(40).keys()].map(color)")
    assert len(set(colors)) == 40


def test_the_page_fits_a_phone_and_loads_without_a_failed_request(browser, server_url):
    """At 390 px the upload's three pictures overflowed the page (500 px to scroll); and
    every load logged a 404 for /favicon.ico."""
    context = browser.new_context(viewport={"width": 390, "height": 800})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.goto(server_url + "/")
    page.wait_for_selector("body[data-state=ready]", timeout=15_000)
    png = quarter_png(corner=1)
    page.set_input_files(
        "#upload", files=[{"name": "q.png", "mimeType": "image/png", "buffer": png}]
    )
    page.wait_for_selector("#upload-result:not([hidden])", timeout=10_000)
    width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement"
                          ".clientWidth]")  # fmt: skip
    page.goto(server_url + "/")  # a second load, where the browser asks for an icon
    page.wait_for_selector("body[data-state=ready]", timeout=15_000)
    context.close()
    assert width[0] <= width[1] and console == []
