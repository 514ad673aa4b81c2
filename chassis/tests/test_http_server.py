"""The API's HTTP server: serves, stamps `Date`, and stops when told, alone or beside a worker."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from email.utils import parsedate_to_datetime

import httpx
import uvicorn
from fastapi import FastAPI

from chassis.http_server import API_THREADS, QuietServer
from localrun.ports import free_port


@contextmanager
def serving(app: FastAPI, threads: int = API_THREADS) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None)
    server = QuietServer(config, threads=threads)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            threading.Event().wait(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.handle_exit(signal.SIGTERM, None)
        thread.join(timeout=30)
    assert not thread.is_alive()


def test_it_serves_with_a_date_header_and_stops_on_sigterm():
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"answer": "pong"}

    with serving(app) as url:
        answer = httpx.get(f"{url}/ping", timeout=5)
        assert answer.json() == {"answer": "pong"}
        assert parsedate_to_datetime(answer.headers["date"]).tzinfo is not None


def test_synchronous_routes_share_a_capped_thread_pool():
    """Twelve clients at once, three threads: the fourth request waits for a free one."""
    app = FastAPI()
    inside, release = threading.Semaphore(0), threading.Event()
    threads_seen: set[int] = set()

    @app.get("/hold")
    def hold() -> dict[str, int]:
        threads_seen.add(threading.get_ident())
        inside.release()
        release.wait(timeout=30)
        return {"thread": threading.get_ident()}

    with serving(app, threads=3) as url, ThreadPoolExecutor(12) as clients:
        answers = [clients.submit(httpx.get, f"{url}/hold", timeout=60) for _ in range(12)]
        for _ in range(3):
            assert inside.acquire(timeout=30)
        assert not inside.acquire(timeout=0.5)  # a fourth would be in by now if allowed
        release.set()
        assert all(answer.result().status_code == 200 for answer in answers)
    assert len(threads_seen) <= 3


def test_beside_a_worker_it_serves_while_the_block_runs_and_stops_after():
    """`python -m <service> all`: the API on its own thread while the worker runs."""
    from chassis.http_server import serving_beside

    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"thread": threading.current_thread().name}

    port = free_port()
    with serving_beside(app, "127.0.0.1", port):
        answer = _eventually_get(f"http://127.0.0.1:{port}/ping")
        assert answer.status_code == 200
        assert answer.json()["thread"] != threading.main_thread().name
    try:
        httpx.get(f"http://127.0.0.1:{port}/ping", timeout=2)
    except httpx.ConnectError:
        pass
    else:
        raise AssertionError("still serving after the block ended")
    assert not any(thread.name == "api" for thread in threading.enumerate())


def test_beside_a_worker_an_api_that_cannot_serve_stops_the_whole_process():
    """Its port taken: the process gets SIGTERM (the worker stops, a supervisor restarts the
    process whole) instead of running on as a worker without its API."""
    from chassis.http_server import serving_beside

    signalled = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: signalled.set())
    try:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            with serving_beside(FastAPI(), "127.0.0.1", taken.getsockname()[1]):
                assert signalled.wait(timeout=30)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _eventually_get(url: str) -> httpx.Response:
    for _ in range(200):
        try:
            return httpx.get(url, timeout=5)
        except httpx.ConnectError:
            threading.Event().wait(0.05)
    return httpx.get(url, timeout=5)
