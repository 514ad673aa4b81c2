"""The one typed dependency through which every route reaches its service's context.

A service's `api/deps.py` declares its context (a frozen dataclass: engine, settings, the
adapters its routes use) and `Context = Annotated[ItsContext, Depends(context_of(ItsContext))]`;
its bootstrap builds one and hands it to `provide_context`. Routes then take `context:
Context`, typed, instead of each reading `request.app.state` in its own way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import FastAPI, Request

C = TypeVar("C")


def provide_context(app: FastAPI, context: object) -> None:
    app.state.service_context = context


def context_of(kind: type[C]) -> Callable[[Request], Awaitable[C]]:
    # Async because it only reads app state: FastAPI runs a plain `def` dependency in its
    # thread pool, a thread hop on every request for a getattr.
    async def service_context(request: Request) -> C:
        context = getattr(request.app.state, "service_context", None)
        if not isinstance(context, kind):  # a bootstrap that forgot `provide_context`
            raise RuntimeError(f"this app was given no {kind.__name__}")
        return context

    return service_context
