"""Serving the built site on localhost, for `opsvalue serve`.

The CLI prints; these functions never do. `make_server` returns a server the caller (or a test)
can run in a thread and shut down; `serve` runs one until interrupted.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


class SiteRequestHandler(SimpleHTTPRequestHandler):
    """Static files from the site folder; access lines go to logging, not stderr."""

    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".html": "text/html; charset=utf-8",
    }

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s - " + format, self.address_string(), *args)


def serve_url(host: str, port: int) -> str:
    """The address to open in a browser: http://127.0.0.1:8000/."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def make_server(
    site_dir: Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> ThreadingHTTPServer:
    """An HTTP server for the site folder, bound but not yet serving (port 0: any free port).

    Raises FileNotFoundError when the folder holds no built site.
    """
    index = Path(site_dir) / "index.html"
    if not index.is_file():
        raise FileNotFoundError(f"no site at {site_dir}: run `opsvalue run` or `opsvalue demo`")
    handler = functools.partial(SiteRequestHandler, directory=str(site_dir))
    return ThreadingHTTPServer((host, port), handler)


def server_url(server: ThreadingHTTPServer) -> str:
    """The URL of a bound server, with the port it actually got."""
    host, port = server.server_address[:2]
    return serve_url(str(host), int(port))


def serve(
    site_dir: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the site until interrupted; `on_ready` gets the URL once the port is bound."""
    server = make_server(site_dir, host, port)
    try:
        if on_ready is not None:
            on_ready(server_url(server))
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("site server stopped")
    finally:
        server.server_close()
