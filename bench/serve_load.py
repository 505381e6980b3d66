"""Load test of `vaekit serve`: many concurrent clients on loopback for a fixed time.

Starts `vaekit serve RUNDIR` as its own process on a free 127.0.0.1 port (training a small run
first when no --run is given), then runs --clients threads, each with its own keep-alive
connection, for --seconds. Each client does what the page does, in these shares: decode a map
point (45%), decode a latent vector as a slider does (20%), draw samples (10%), upload a PNG
(10%), upload random bytes (5%, must get 415), upload an oversized body (5%, must get 413) and
read /api/info (5%). An error is any other status, or a failed connection.

The server's resident memory is read from /proc every 0.25 s: its baseline (after start-up,
before the load), its peak, and its peak in the first and the second half of the run, which
should be equal if memory is bounded. Traffic goes to 127.0.0.1 only, and the run stops by
itself. Exit status 1 on any error or on memory that kept growing.

    .venv/bin/python bench/serve_load.py [--clients 50] [--seconds 30] [--run RUNDIR]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

HOST = "127.0.0.1"  # loopback only, always
ACTIONS = [  # (name, share, expected status)
    ("decode-point", 45, 200),
    ("decode-z", 20, 200),
    ("sample", 10, 200),
    ("upload", 10, 200),
    ("upload-random", 5, 415),
    ("upload-oversized", 5, 413),
    ("info", 5, 200),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def train_small_run(folder: Path, data: str) -> Path:
    import vaekit

    out = folder / "run"
    vaekit.train(data, model="conv" if data != "digits" else "mlp", latent_dim=16, epochs=2,
                 out=out, progress=False, report=False)  # fmt: skip
    return out


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(run: Path, port: int, max_upload_mb: float) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "vaekit", "serve", str(run), "--host", HOST, "--port",
           str(port), "--max-upload-mb", str(max_upload_mb)]  # fmt: skip
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped: {server.stderr.read().decode()[-2000:]}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/api/info")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start within 300 s")


class Client(threading.Thread):
    """One simulated page: a keep-alive connection and a random walk over ACTIONS."""

    def __init__(self, port: int, info: dict, png: bytes, limit: int, deadline: float,
                 seed: int) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.port, self.info, self.png, self.limit = port, info, png, limit
        self.deadline, self.rng = deadline, random.Random(seed)
        self.results: list[tuple[str, float, bool]] = []  # (action, seconds, as expected)
        self.failures: list[str] = []

    def request(self, conn, action: str) -> int:
        info = self.info
        if action == "decode-point":
            body = json.dumps({"point": [self.rng.uniform(-3, 3), self.rng.uniform(-3, 3)]})
            return self.send(conn, "POST", "/api/decode", body.encode())
        if action == "decode-z":
            z = [v + self.rng.gauss(0, 1) for v in info["start"]]
            return self.send(conn, "POST", "/api/decode", json.dumps({"z": z}).encode())
        if action == "sample":
            return self.send(conn, "POST", "/api/sample", b"{}")
        if action == "upload":
            return self.send(conn, "POST", "/api/upload?name=digit.png", self.png)
        if action == "upload-random":
            return self.send(conn, "POST", "/api/upload?name=x.png", os.urandom(4096))
        if action == "upload-oversized":
            return self.send(conn, "POST", "/api/upload?name=big.png", b"\0" * (self.limit + 1))
        return self.send(conn, "GET", "/api/info", None)

    def send(self, conn, method: str, path: str, body: bytes | None) -> int:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        response.read()
        if response.getheader("connection", "").lower() == "close":
            conn.close()
        return response.status

    def run(self) -> None:
        names = [a[0] for a in ACTIONS]
        weights = [a[1] for a in ACTIONS]
        expected = {a[0]: a[2] for a in ACTIONS}
        conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        while time.monotonic() < self.deadline:
            action = self.rng.choices(names, weights)[0]
            start = time.perf_counter()
            try:
                status = self.request(conn, action)
            except (OSError, http.client.HTTPException) as err:
                self.failures.append(f"{action}: {type(err).__name__}: {err}")
                conn.close()
                conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
                continue
            ok = status == expected[action]
            if not ok:
                self.failures.append(f"{action}: status {status}")
            self.results.append((action, time.perf_counter() - start, ok))
        conn.close()


def digit_png(shape: list[int]) -> bytes:
    c, h, w = shape
    pixels = np.random.default_rng(0).integers(0, 256, (h, w), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels if c == 1 else np.stack([pixels] * 3, -1)).save(buffer, format="PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--run", type=Path, help="a run directory (default: train a small one)")
    parser.add_argument("--data", default="digits", help="for the small run (default: digits)")
    parser.add_argument("--max-upload-mb", type=float, default=0.5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or train_small_run(Path(tmp), args.data)
        port = free_port()
        server = start_server(run, port, args.max_upload_mb)
        try:
            report(server, port, args)
        finally:
            server.terminate()
            server.wait(30)


def report(server: subprocess.Popen, port: int, args: argparse.Namespace) -> None:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    conn.request("GET", "/api/info")
    info = json.loads(conn.getresponse().read())
    baseline = rss_mb(server.pid)
    deadline = time.monotonic() + args.seconds
    limit = int(args.max_upload_mb * 1e6)
    clients = [Client(port, info, digit_png(info["shape"]), limit, deadline, seed=i)
               for i in range(args.clients)]  # fmt: skip
    started = time.monotonic()
    for c in clients:
        c.start()
    memory: list[tuple[float, float]] = []
    while any(c.is_alive() for c in clients):
        memory.append((time.monotonic() - started, rss_mb(server.pid)))
        time.sleep(0.25)
    wall = time.monotonic() - started
    results = [r for c in clients for r in c.results]
    failures = [f for c in clients for f in c.failures]
    by_action: dict[str, list[float]] = defaultdict(list)
    for action, seconds, _ in results:
        by_action[action].append(seconds * 1000)
    half = wall / 2
    first = max(m for t, m in memory if t < half)
    second = max(m for t, m in memory if t >= half)
    print(f"`vaekit serve` load test: {args.clients} clients, {args.seconds:g} s on {HOST}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, run: {info['model']}")
    print(f"requests: {len(results)} ({len(results) / wall:.0f}/s), errors: {len(failures)}")
    print("| request | count | p50 ms | p95 ms | p99 ms |\n| --- | --- | --- | --- | --- |")
    for name, _, _ in ACTIONS:
        ms = np.array(by_action[name] or [np.nan])
        p50, p95, p99 = np.percentile(ms, [50, 95, 99])
        print(f"| {name} | {len(by_action[name])} | {p50:.0f} | {p95:.0f} | {p99:.0f} |")
    print(f"server RSS: baseline {baseline:.0f} MB, peak {max(m for _, m in memory):.0f} MB "
          f"(first half {first:.0f} MB, second half {second:.0f} MB)")  # fmt: skip
    for f in sorted(set(failures))[:10]:
        print("  error:", f)
    growing = second > first * 1.10 + 20
    if failures or growing:
        print("FAILED: " + ("errors" if failures else "memory kept growing"))
        sys.exit(1)


if __name__ == "__main__":
    main()
