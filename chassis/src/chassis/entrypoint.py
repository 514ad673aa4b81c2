"""`python -m <service> api|worker|all|migrate`: the one way every service process starts.

`all` serves the API and runs the worker in one process (the API on its own thread and event
loop, each on its own port as before): what `make run` starts, ~85 MiB less a service than
two processes. Containers run `api` and `worker` apart, to scale and restart each alone.

Neither exits because what it needs is not up yet (`chassis.waiting`): both wait for their
database while their composition root opens it; the worker then waits for its broker and
topics before Faust starts. The API never needs the broker (the outbox relay is the worker's).

Both also bring their store to the newest schema revision as they open it; `migrate` does
only that and exits, for a deployment that migrates before it starts any process.

Once built, just before it serves, a process leaves what it loaded to start out of the
garbage collector's passes (`chassis.heap`): a full pass walked ~200,000 such objects, ~0.1 s.

A service process writes JSON lines and never draws on a terminal, so it runs without the
terminal stack the shared environment holds for `lienganh` (`without_terminal_rendering`).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from types import ModuleType

PROCESSES = ("api", "worker", "all", "migrate")
# Imported, when installed, only to draw on a terminal: structlog's console renderer and
# rich tracebacks, httpx's command line (`httpx._main`, imported by `import httpx`). Both
# libraries fall back when the import fails. ~6 MiB a process, ~100 MiB for the system.
TERMINAL_ONLY = ("rich", "pygments")


def without_terminal_rendering() -> None:
    """Make `import rich` and `import pygments` fail in this process, before anything tries
    (a `None` entry in `sys.modules` is the import system's way to say "not available")."""
    for name in TERMINAL_ONLY:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def with_uvloop() -> None:
    """Run this process's event loops on uvloop (libuv), when installed. asyncio's loop is
    pure Python, and a worker's Faust machinery turns it for every batch and fetch: on
    uvloop (and uvicorn's C HTTP parser, `httptools`, which it picks up by itself) a case
    costs the whole system 13 % less CPU (docs/benchmarks.md). Set before anything makes a
    loop: Faust's consumer thread and the outbox relay's thread make theirs from the policy."""
    try:
        import uvloop
    except ImportError:  # not on this platform: asyncio's loop does the same, slower
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(service: str, argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {service}")
    sub = parser.add_subparsers(dest="process", required=True)
    serving = [
        sub.add_parser("api", help="serve the HTTP API"),
        sub.add_parser("all", help="serve the API and run the worker, in one process"),
    ]
    for process in serving:
        process.add_argument("--host", default="127.0.0.1")
        process.add_argument("--port", type=int, default=8000, help="the API's")
    sub.add_parser("worker", help="run the stream worker (consumers and outbox relay)")
    sub.add_parser("migrate", help="bring the service's database to the newest revision, exit")
    args = parser.parse_args(argv)
    without_terminal_rendering()
    if args.process == "migrate":
        migrate(service)
        return
    with_uvloop()
    # Imported after the line above: the composition root loads structlog and httpx.
    bootstrap = importlib.import_module(f"{service}.bootstrap")
    # Each process imports only its own stack (an API never loads Faust, a worker never
    # FastAPI): ~10 MiB less per process, and a faster start after a crash.
    if args.process == "api":
        from chassis.http_server import serve

        api = bootstrap.create_api()
        settled()
        serve(api, host=args.host, port=args.port)
    elif args.process == "worker":
        run_worker_process(bootstrap)
    else:
        from chassis.http_server import serving_beside
        from chassis.metrics import expose_on_the_api_only

        expose_on_the_api_only()
        # The API answers while the worker waits for its broker, as two processes would.
        with serving_beside(bootstrap.create_api(), host=args.host, port=args.port):
            run_worker_process(bootstrap)


def run_worker_process(bootstrap: ModuleType) -> None:
    from chassis.waiting import wait_for_worker_broker
    from chassis.worker import run_worker

    worker = bootstrap.create_worker()
    wait_for_worker_broker(worker)
    settled()
    run_worker(worker)


def settled() -> None:
    """The process is built and about to serve: what it loaded to get here lives as long as
    it does, so the collector stops walking it (`chassis.heap`)."""
    from chassis.heap import freeze_what_startup_loaded

    freeze_what_startup_loaded()


def migrate(service: str) -> None:
    """Open the service's store as its processes do (`<service>.migrations.open_store`, which
    migrates it), then say which revision it is at."""
    from chassis.migrations import current_revision

    store = importlib.import_module(f"{service}.migrations")
    engine = store.open_store()
    try:
        revision = current_revision(engine, store.TABLES)
    finally:
        engine.dispose()
    print(f"{service}: store at revision {revision}")
