"""``adseq-lab serve``: the dashboards on http://127.0.0.1:5006 (loopback unless told otherwise)."""

from __future__ import annotations

import argparse
import socket
import time
import urllib.error
import urllib.request


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=5006, help="TCP port (default 5006)")
    parser.add_argument(
        "--address", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)"
    )
    parser.add_argument(
        "--allow-websocket-origin",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="extra origin allowed to open sessions (repeatable), e.g. when proxied",
    )
    parser.add_argument("--no-show", action="store_true", help="do not open a browser")


def origins(address: str, port: int, extra: list[str]) -> list[str]:
    """The websocket origins to allow: this server's own address, localhost, and ``extra``."""
    own = [f"localhost:{port}", f"127.0.0.1:{port}"]
    if address not in ("127.0.0.1", "localhost", "0.0.0.0", "::", ""):
        own.append(f"{address}:{port}")
    return list(dict.fromkeys(own + list(extra)))


def start(address: str = "127.0.0.1", port: int = 5006, extra_origins=(), show=False, **kwargs):
    """Start the server; ``threaded=True`` in ``kwargs`` returns at once (tests), else blocks."""
    import panel as pn

    from .dashboards.apps import routes

    return pn.serve(
        routes(),
        address=address,
        port=port,
        websocket_origin=origins(address, port, list(extra_origins)),
        show=show,
        title="adseq-lab dashboards",
        **kwargs,
    )


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


def start_in_background(address: str = "127.0.0.1", port: int = 0, timeout_s: float = 60.0):
    """Serve the dashboards from a background thread (tests, notebooks); ``(server, url)``.

    ``port=0`` picks a free port. Returns once the index page answers; ``server.stop()`` ends it.
    """
    port = port or free_port(address)
    server = start(address, port, threaded=True)
    url = f"http://{address}:{port}/"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return server, url
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                server.stop()
                raise TimeoutError(f"dashboards did not answer at {url} in {timeout_s} s") from None
            time.sleep(0.1)


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise SystemExit(f"--port must be in [1, 65535], got {args.port}")
    print(f"adseq-lab dashboards on http://{args.address}:{args.port}/  (Ctrl-C stops)", flush=True)
    start(args.address, args.port, args.allow_websocket_origin, show=not args.no_show)
    return 0
