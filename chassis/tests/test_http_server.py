"""The API's HTTP server: serves, stamps `Date`, and stops when told."""

from __future__ import annotations

import signal
import threading
from email.utils import parsedate_to_datetime

import httpx
import uvicorn
from fastapi import FastAPI

from chassis.http_server import QuietServer
from localrun.ports import free_port


def test_it_serves_with_a_date_header_and_stops_on_sigterm():
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"answer": "pong"}

    port = free_port()
    server = QuietServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            threading.Event().wait(0.05)
        answer = httpx.get(f"http://127.0.0.1:{port}/ping", timeout=5)
        assert answer.json() == {"answer": "pong"}
        assert parsedate_to_datetime(answer.headers["date"]).tzinfo is not None
    finally:
        server.handle_exit(signal.SIGTERM, None)
        thread.join(timeout=30)
    assert not thread.is_alive()
