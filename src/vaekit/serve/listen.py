"""The listening socket of `vaekit serve`, bound before anything is served: a port in use or a
host that does not resolve is then one clear error before the server says where it serves,
and port 0 has become the free port the system chose, which the server can print.
"""

from __future__ import annotations

import socket

from vaekit.errors import VaekitError


def check_port(port: int) -> int:
    """The port, if it is one (0: a free one, chosen when bound); checked before any work."""
    if not 0 <= port <= 65535:
        raise VaekitError(f"--port must be in 0..65535 (0: a free port), got {port}")
    return port


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), for uvicorn's `Server.run(sockets=[...])`; port 0
    binds a free port (read it back with `sock.getsockname()[1]`). Every failure is a
    VaekitError naming the host or port."""
    check_port(port)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as err:
        reason = err.strerror if isinstance(err, socket.gaierror) else str(err)
        raise VaekitError(f"--host {host}: cannot resolve it ({reason})") from None
    family, kind, proto, _, address = found[0]
    sock = socket.socket(family, kind, proto)
    try:
        # As uvicorn does: a port left in TIME_WAIT by a stopped server can be reused, one that
        # another program listens on cannot.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)  # now, not in uvicorn: a second server on this port fails here
    except OSError as err:
        sock.close()
        raise VaekitError(f"cannot listen on {host} port {port}: {err.strerror or err}") from None
    sock.set_inheritable(True)
    return sock
