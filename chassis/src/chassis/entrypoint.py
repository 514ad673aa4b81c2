"""`python -m <service> api|worker`: the one way every service process starts."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import faust
import uvicorn
from fastapi import FastAPI

from chassis.worker import run_worker


def main(
    service: str,
    *,
    create_api: Callable[[], FastAPI],
    create_worker: Callable[[], faust.App],
    argv: list[str] | None = None,
) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {service}")
    sub = parser.add_subparsers(dest="process", required=True)
    api = sub.add_parser("api", help="serve the HTTP API")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    sub.add_parser("worker", help="run the stream worker (consumers and outbox relay)")
    args = parser.parse_args(argv)
    if args.process == "api":
        uvicorn.run(create_api(), host=args.host, port=args.port, log_config=None, access_log=False)
    else:
        run_worker(create_worker())
