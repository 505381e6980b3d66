"""`vaekit serve` binds its port before it says where it serves: a port in use or a host that
does not resolve is one line and exit 1 with no "serving" line; --port 0 serves on a free
port and prints it. (uvicorn's run is replaced: no test here waits on a server.)"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.cli.test_cli import vaekit


@pytest.fixture
def served(served_run: Path, monkeypatch) -> list[list[socket.socket]]:
    """The sockets each `vaekit serve` would have served on, instead of serving."""
    import uvicorn

    monkeypatch.setenv("VAEKIT_CACHE", str(served_run.parent / "cache"))
    calls: list[list[socket.socket]] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: calls.append(sockets))
    return calls


def test_port_0_serves_on_a_free_port_and_prints_it(served_run, served, capsys):
    assert vaekit("serve", served_run, "--port", "0") == 0
    (sock,) = served[0]
    port = sock.getsockname()[1]
    sock.close()
    assert port != 0
    assert f"serving {served_run} at http://127.0.0.1:{port}/" in capsys.readouterr().out


def test_a_port_in_use_is_one_line_before_serving(served_run, served, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert vaekit("serve", served_run, "--port", port) == 1
    out, err = capsys.readouterr()
    assert err == f"vaekit: error: cannot listen on 127.0.0.1 port {port}: Address already in use\n"
    assert "serving" not in out and "loading" not in out and served == []


def test_a_host_that_does_not_resolve_is_one_line_before_serving(
    served_run, served, capsys, monkeypatch
):
    def no_such_name(host, *args, **kwargs):  # no resolver is asked: the network is not ours
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    assert vaekit("serve", served_run, "--host", "no-such-host.invalid") == 1
    out, err = capsys.readouterr()
    assert err == (
        "vaekit: error: --host no-such-host.invalid: cannot resolve it (Name or service not "
        "known)\n"
    )
    assert "serving" not in out and served == []


def test_a_second_server_on_the_same_port_is_refused_before_serving():
    """The socket listens as soon as it is bound: a second `vaekit serve` on its port fails
    at once, not after loading its model (SO_REUSEADDR alone would let both bind)."""
    from vaekit.errors import VaekitError
    from vaekit.serve.listen import listen_socket

    first = listen_socket("127.0.0.1", 0)
    try:
        port = first.getsockname()[1]
        with pytest.raises(VaekitError, match=f"cannot listen on 127.0.0.1 port {port}"):
            listen_socket("127.0.0.1", port)
    finally:
        first.close()
