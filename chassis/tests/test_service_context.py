"""The typed service context every route depends on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from chassis.service_context import context_of, provide_context


@dataclass(frozen=True)
class _Context:
    name: str


_Ctx = Annotated[_Context, Depends(context_of(_Context))]


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/name")
    async def name(context: _Ctx) -> str:
        return context.name

    return app


async def _get_name(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/name")


async def test_a_route_gets_the_context_its_app_was_given():
    app = _app()
    provide_context(app, _Context("cases"))
    assert (await _get_name(app)).json() == "cases"


async def test_the_context_is_read_on_the_event_loop_not_in_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
):
    # A plain `def` dependency would be run through the thread pool on every request.
    import fastapi.dependencies.utils as dependency_utils

    hops: list[object] = []
    real = dependency_utils.run_in_threadpool

    async def counting(func, *args, **kwargs):  # type: ignore[no-untyped-def]
        hops.append(func)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(dependency_utils, "run_in_threadpool", counting)
    app = _app()
    provide_context(app, _Context("cases"))
    assert (await _get_name(app)).status_code == 200
    assert hops == []


async def test_an_app_given_no_context_fails_closed():
    with pytest.raises(RuntimeError, match="no _Context"):
        await _get_name(_app())
