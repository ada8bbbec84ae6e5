from __future__ import annotations

import threading
import urllib.request
from pathlib import Path

import pytest

from dashboards.commands import make_server, serve, serve_url, server_url


def test_serve_url_is_a_localhost_address() -> None:
    assert serve_url("127.0.0.1", 8000) == "http://127.0.0.1:8000/"
    assert serve_url("::1", 8080) == "http://[::1]:8080/"


def test_make_server_serves_the_site_folder(synthetic_site) -> None:
    site_dir, _ = synthetic_site
    server = make_server(site_dir, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = server_url(server)
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0/")
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/html")
            assert b"Harbour Group" in response.read()
        with urllib.request.urlopen(url + "assets/site.js", timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/javascript")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_make_server_without_a_site_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no site"):
        make_server(tmp_path, "127.0.0.1", 0)


def test_serve_without_a_site_raises_before_binding(tmp_path: Path) -> None:
    ready: list[str] = []
    with pytest.raises(FileNotFoundError):
        serve(tmp_path, "127.0.0.1", 0, on_ready=ready.append)
    assert ready == []
