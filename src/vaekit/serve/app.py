"""The web app of `vaekit serve` (Starlette): one page and a small JSON API over an Explorer.

    GET  /                  the page (plain HTML, CSS and JS shipped with the package)
    GET  /api/info          the latent map, the sliders, the anomaly threshold
    POST /api/decode        {"point": [u, v]} or {"z": [...]} -> the decoded image
    POST /api/sample        {"n": 16} -> a grid of fresh samples
    POST /api/upload?name=  the image file's bytes as the body -> reconstruction, score,
                            uncertainty map

Requests are bounded: a body is read only up to its limit (413 past it), model calls run on
`workers` threads one model call at a time, and at most `queue` more wait (503 past that), so
many clients cannot exhaust memory. Uploads are decoded in memory and never written anywhere.
Every refusal is JSON {"error": message} with a 4xx status.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vaekit.errors import VaekitError
from vaekit.serve.explorer import Explorer
from vaekit.serve.uploads import UploadError, check_name, decode_upload

STATIC = {  # file name -> media type: the only files the server ever sends
    "index.html": "text/html; charset=utf-8",
    "explorer.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
MAX_JSON_BYTES = 64 * 1024
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class Gate:
    """At most `workers` model calls at once and `queue` more waiting; past that, 503. Also
    at most as many uploads being read at once (`reading`): each is held in memory whole
    (up to --max-upload-mb), and connections are not bounded (idle ones locked others out)."""

    def __init__(self, workers: int, queue: int) -> None:
        self.limiter = anyio.CapacityLimiter(workers)
        self.admitted = workers + queue
        self.inside = 0  # running and waiting; the event loop is one thread: a plain counter
        self.uploading = 0

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        if self.uploading >= self.admitted:
            raise HTTPException(503, "the server is busy: try again in a moment")
        self.uploading += 1
        try:
            yield
        finally:
            self.uploading -= 1

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.inside >= self.admitted:
            raise HTTPException(503, "the server is busy: try again in a moment")
        self.inside += 1
        try:
            return await anyio.to_thread.run_sync(fn, *args, limiter=self.limiter)
        finally:
            self.inside -= 1


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes (by its
    Content-Length, or while it streams in). A client that hangs up before the end (a page
    left during an upload) gets a 400 it will not read, not a traceback on the console."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise HTTPException(400, "Content-Length is not a number")
        if int(length) > limit:
            raise HTTPException(413, f"the body is {int(length):,} bytes; at most {limit:,}")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise HTTPException(413, f"the body is more than {limit:,} bytes")
    except ClientDisconnect:
        raise HTTPException(400, "the client closed the connection before the body's end") from None
    return bytes(body)


async def read_json(request: Request) -> dict[str, Any]:
    body = await read_body(request, MAX_JSON_BYTES)
    try:
        value = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "the body is not JSON") from None
    except RecursionError:  # [[[[...: deeper than Python's parser recurses
        raise HTTPException(400, "the JSON is nested too deeply") from None
    if not isinstance(value, dict):
        raise HTTPException(400, "expected a JSON object")
    return value


def static_files() -> dict[str, bytes]:
    folder = resources.files("vaekit.serve") / "static"
    return {name: (folder / name).read_bytes() for name in STATIC}


def create_app(
    explorer: Explorer,
    *,
    max_upload_bytes: int = 2_000_000,
    workers: int = 1,
    queue: int = 64,
    allowed_hosts: list[str] | None = None,
) -> Starlette:
    """The app over a ready Explorer. `allowed_hosts`: the Host headers answered (default
    the loopback names), which keeps other sites' pages from reaching it (DNS rebinding)."""
    gate = Gate(workers, queue)
    files = static_files()
    info = explorer.info()  # computed once: it does not change while the server runs

    async def page(request: Request) -> Response:
        name = request.path_params.get("name", "index.html")
        if name not in STATIC:
            raise HTTPException(404, f"no file {name!r} here")
        return Response(files[name], media_type=STATIC[name])

    async def api_info(request: Request) -> Response:
        return JSONResponse({**info, "max_upload_bytes": max_upload_bytes})

    async def api_decode(request: Request) -> Response:
        body = await read_json(request)
        if "point" in body:
            return JSONResponse(await gate.run(explorer.decode_point, body["point"]))
        if "z" in body:
            return JSONResponse(await gate.run(explorer.decode_latent, body["z"]))
        raise HTTPException(400, 'give {"point": [u, v]} or {"z": [...]}')

    async def api_sample(request: Request) -> Response:
        body = await read_json(request)
        return JSONResponse(await gate.run(explorer.sample, body.get("n")))

    async def api_upload(request: Request) -> Response:
        if not explorer.uploads:
            raise HTTPException(
                415, f"the page takes no file for a model of {explorer.model.kind.noun}"
            )
        name = check_name(request.query_params.get("name"))
        kind = request.headers.get("content-type", "")
        if kind.startswith("multipart/"):
            raise HTTPException(415, "send the file's bytes as the request body, not a form")
        async with gate.reading():
            body = await read_body(request, max_upload_bytes)
        x = await gate.run(decode_upload, body, explorer.model.shape, name)
        return JSONResponse(await gate.run(explorer.examine, x, name))

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/static/{name}", page, methods=["GET"]),
        Route("/api/info", api_info, methods=["GET"]),
        Route("/api/decode", api_decode, methods=["POST"]),
        Route("/api/sample", api_sample, methods=["POST"]),
        Route("/api/upload", api_upload, methods=["POST"]),
    ]
    hosts = allowed_hosts or ["127.0.0.1", "localhost", "[::1]"]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
            Middleware(SecurityHeaders),
        ],
        exception_handlers={
            HTTPException: _http_error,
            UploadError: _upload_error,
            VaekitError: _vaekit_error,
        },
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


async def _upload_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UploadError)
    return JSONResponse({"error": exc.message}, status_code=exc.status)


async def _vaekit_error(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": str(exc)}, status_code=400)


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response: the page may load nothing but its own files
    and data: images."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)
