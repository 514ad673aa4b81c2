"""Headless Chromium for browser tests: Debian's `chromium`, driven by Playwright; and
`OtherSite`, pages on another origin for what another site could make the browser do.

Never `playwright install` (no browser downloads here): the fixture installs the Debian
package when it is missing, as `LocalPostgres` installs PostgreSQL, so a fresh machine works.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]


def ensure_chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    apt = shutil.which("apt-get")
    if apt is None:
        raise RuntimeError("chromium is missing and apt-get is not available to install it")
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*prefix, apt, "update", "-qq"], check=True, env=env)
    subprocess.run([*prefix, apt, "install", "-y", "-qq", "chromium"], check=True, env=env)
    if not CHROMIUM.exists():
        raise RuntimeError(f"installed chromium, but {CHROMIUM} is not there")
    return CHROMIUM


def artifact(name: str) -> Path:
    """Where a kept test artifact (screenshot) goes; the folder is gitignored."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


class OtherSite:
    """Pages served from another origin: its own loopback port. Reached as `127.0.0.1` it is
    the same *site* as a system on 127.0.0.1 (so SameSite cookies still go along) but
    another origin; reached as `localhost` it is another site altogether."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                page = pages.get(self.path)
                if page is None:
                    self.send_error(404)
                    return
                body = page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def serve(self, path: str, html: str, host: str = "127.0.0.1") -> str:
        """Serve `html` at `path`; the URL to open it at, as `host`."""
        self.pages[path] = html
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> OtherSite:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
