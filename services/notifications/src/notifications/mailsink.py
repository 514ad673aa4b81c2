"""A local SMTP sink for `make run`: keeps every e-mail as a file and lists them on a page.

`python -m notifications.mailsink --dir data/mail --smtp-port 2525 --web-port 8025`
stores each message as `<time>-<id>.eml` under `--dir` and serves a listing at
`http://127.0.0.1:<web-port>/` (and `/readyz`). Development only: it accepts any mail.
"""

from __future__ import annotations

import argparse
import html
import os
import signal
import threading
import uuid
from datetime import UTC, datetime
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class StoreMessages:
    """aiosmtpd handler: one `.eml` file per message, written whole (temp file + rename)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"
        temp = self.directory / f".{name}.tmp"
        temp.write_bytes(content)
        os.replace(temp, self.directory / name)
        return "250 OK stored"


def stored_messages(directory: Path) -> list[dict[str, str]]:
    """Newest first: file name, sender, recipient, subject, date."""
    rows = []
    for path in sorted(directory.glob("*.eml"), reverse=True):
        mail = message_from_bytes(path.read_bytes(), policy=policy.default)
        rows.append(
            {
                "file": path.name,
                "from": str(mail.get("From", "")),
                "to": str(mail.get("To", "")),
                "subject": str(mail.get("Subject", "")),
                "date": str(mail.get("Date", "")),
            }
        )
    return rows


def _listing_page(directory: Path) -> bytes:
    rows = "".join(
        f'<tr><td><a href="/messages/{html.escape(m["file"])}">{html.escape(m["subject"])}</a>'
        f"</td><td>{html.escape(m['to'])}</td><td>{html.escape(m['file'][:15])}</td></tr>"
        for m in stored_messages(directory)
    )
    page = (
        '<!doctype html><meta charset="utf-8"><meta name="viewport" '
        'content="width=device-width, initial-scale=1"><title>Mail sink</title>'
        "<style>body{font-family:sans-serif;margin:1rem}td,th{padding:.3rem;text-align:left;"
        "border-bottom:1px solid #ddd}</style>"
        f"<h1>Local mail sink</h1><p>Files in <code>{html.escape(str(directory))}</code></p>"
        f"<table><tr><th>Subject</th><th>To</th><th>Received (UTC)</th></tr>{rows}</table>"
    )
    return page.encode()


def _web_handler(directory: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/readyz":
                return self._send(200, b'{"status": "ready"}', "application/json")
            if self.path == "/":
                return self._send(200, _listing_page(directory), "text/html; charset=utf-8")
            name = self.path.removeprefix("/messages/")
            path = directory / name
            # Only plain names of stored messages: no way out of the folder.
            if name != Path(name).name or not name.endswith(".eml") or not path.is_file():
                return self._send(404, b"not found", "text/plain")
            mail = message_from_bytes(path.read_bytes(), policy=policy.default)
            return self._send(
                200, mail.as_bytes(policy=policy.SMTPUTF8), "text/plain; charset=utf-8"
            )

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def serve(directory: Path, smtp_port: int, web_port: int, stop: threading.Event) -> None:
    controller = Controller(StoreMessages(directory), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    web = ThreadingHTTPServer(("127.0.0.1", web_port), _web_handler(directory))
    thread = threading.Thread(target=web.serve_forever, daemon=True)
    thread.start()
    try:
        stop.wait()
    finally:
        web.shutdown()
        controller.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m notifications.mailsink")
    parser.add_argument("--dir", type=Path, default=Path("data/mail"))
    parser.add_argument("--smtp-port", type=int, default=2525)
    parser.add_argument("--web-port", type=int, default=8025)
    parser.add_argument("--list", action="store_true", help="print stored messages and exit")
    args = parser.parse_args(argv)
    if args.list:
        for message in stored_messages(args.dir):
            print(f"{message['file']}  {message['to']}  {message['subject']}")
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    serve(args.dir, args.smtp_port, args.web_port, stop)


if __name__ == "__main__":
    main()
