"""`vaekit serve`: a local web page to explore a run's latent space and try images on it."""

from __future__ import annotations

import argparse
import logging

from vaekit.cli.options import add_device, add_rundir, checked_device, load_run, positive_int

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="a local web page: latent map, sliders, upload -> reconstruction & score",
        description="Start a local web server with one page: the test set's latent map (the "
        "latents for Z = 2, else their PCA plane), where a click or a drag decodes that point at "
        "once; sliders for the latent dimensions with the highest KL; an upload box that "
        "returns an image's reconstruction, its anomaly score against the threshold in "
        "RUNDIR/anomaly.json (calibrated and saved on first use) and its uncertainty map; and "
        "a button for fresh samples. Uploads stay in memory; nothing is written but "
        "anomaly.json. It answers on 127.0.0.1 only, unless --host says otherwise.",
        epilog="examples:\n  vaekit serve runs/fm              # then open http://127.0.0.1:8000\n"
        "  vaekit serve runs/fm --port 8765",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_rundir(p, "the one to explore")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=8000,
        help="port to listen on; 0 picks a free one and prints it (default: 8000)",
    )
    p.add_argument("--data", metavar="NAME|PATH", help="the data of a run trained on an array")
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=2.0,
        help="largest upload accepted, in MB (default: 2)",
    )
    p.add_argument(
        "--queue",
        type=positive_int,
        default=64,
        help="requests that may wait for the model; more get 503 (default: 64)",
    )
    add_device(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from vaekit.errors import VaekitError
    from vaekit.serve.app import create_app
    from vaekit.serve.explorer import Explorer
    from vaekit.serve.listen import check_port, listen_socket

    check_port(args.port)
    checked_device(args)
    if not 0 < args.max_upload_mb <= 100:
        raise VaekitError(f"--max-upload-mb must be in (0, 100], got {args.max_upload_mb}")
    model = load_run(args)
    if getattr(model.kind.part("render"), "served", None) is None:  # no way to draw it
        model.require_images("vaekit serve")
    model.require_unconditional("vaekit serve")  # before the port is taken, as the rest
    sock = listen_socket(args.host, args.port)  # a port in use fails here, before encoding
    port = sock.getsockname()[1]
    if args.host not in LOOPBACK:
        print(f"vaekit: warning: listening on {args.host}: other machines may reach this page")
    print(f"loading {args.rundir}: encoding the test set, calibrating the anomaly threshold...")
    explorer = Explorer(model, args.rundir, args.data)
    if explorer.detector_note:
        print(f"vaekit: {explorer.detector_note}")
    hosts = None if args.host in LOOPBACK else ["*"]
    app = create_app(
        explorer,
        max_upload_bytes=int(args.max_upload_mb * 1e6),
        queue=args.queue,
        allowed_hosts=hosts,
    )
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"serving {args.rundir} at http://{shown}:{port}/ (Ctrl-C stops)", flush=True)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=port,
        log_level="warning",
        # No bound on connections: uvicorn counts idle ones too, so 128 clients that never
        # finished their headers locked every other out (503) for as long as they stayed;
        # the model's work and the uploads read at once are bounded by the app's Gate
        # (--queue), each upload by its size.
        timeout_keep_alive=5,
        # Ctrl-C: requests still in flight (a client that never finishes its body) get 5 s,
        # then are cancelled, instead of holding the server up until they hang up.
        timeout_graceful_shutdown=5,
    )
    # (after uvicorn.Config, which sets its loggers up) a request cancelled at Ctrl-C is not
    # an error of the application: no traceback for it
    logging.getLogger("uvicorn.error").addFilter(_not_cancelled)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _not_cancelled(record: logging.LogRecord) -> bool:
    """Whether a log record is other than a request's task cancelled (at Ctrl-C, after the
    graceful shutdown's 5 s): uvicorn logs those as an exception in the application."""
    import asyncio

    return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))
