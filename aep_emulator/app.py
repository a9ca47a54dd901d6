"""The emulator's HTTP face: the routers of :mod:`aep_emulator.routes` (IMS, the Flow Service,
admin routes under ``/_emulator``) on one FastAPI app, behind the gateway
(:class:`aep_emulator.gateway.FaultsAndLog`), with the run clock ticking while it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aep_emulator.backend import Backend
from aep_emulator.config import EmulatorConfig
from aep_emulator.errors import EmulatedError, flow_error
from aep_emulator.gateway import FaultsAndLog
from aep_emulator.routes import ROUTERS

logger = logging.getLogger(__name__)


class Emulator(Backend):
    """One emulator: its state, fault plan, Flow Service behaviour and run engine, and ``app``,
    the ASGI application that serves them."""

    def __init__(self, config: EmulatorConfig) -> None:
        super().__init__(config)
        self.app = create_app(self)


@contextlib.asynccontextmanager
async def run_clock(app: FastAPI) -> AsyncIterator[None]:
    """The run clock, for as long as the app serves: due runs start, run and finish; queries end
    (a CTAS lands even if nobody reads its state) and scheduled queries start their runs."""
    backend: Backend = app.state.backend

    async def tick() -> None:
        """The run clock; a failing tick is logged and the clock goes on."""
        while True:
            for what, advance in (
                ("run", backend.engine.advance),
                ("query", backend.queries.advance),
                ("scheduled query", backend.schedules.advance),
            ):
                try:
                    advance()
                except Exception:
                    logger.exception("AEP emulator: the %s clock tick failed", what)
            await asyncio.sleep(0.2)

    task = asyncio.create_task(tick())
    try:
        yield
    finally:
        task.cancel()


async def emulated_error(_: Request, exc: EmulatedError) -> JSONResponse:
    """An error AEP answers, in AEP's shape and status."""
    return JSONResponse(exc.body, status_code=exc.status)


async def no_route(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Paths and methods the emulator does not serve, in the gateway's shape."""
    body = {"error_code": f"{exc.status_code}000", "message": str(exc.detail)}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def emulator_bug(request: Request, exc: Exception) -> JSONResponse:
    """An emulator bug: a visible 500 in AEP's shape (and the traceback in the server log)."""
    detail = f"The AEP emulator failed on {request.method} {request.url.path}: {type(exc).__name__}"
    error = flow_error(500, "1000-500", "Internal Server Error", detail)
    return JSONResponse(error.body, status_code=500)


def create_app(backend: Backend) -> FaultsAndLog:
    """The routers on one app that serves ``backend``, behind the gateway."""
    app = FastAPI(
        title="AEP emulator",
        docs_url="/_emulator/docs",
        openapi_url="/_emulator/openapi.json",
        lifespan=run_clock,
        redirect_slashes=False,
    )
    app.state.backend = backend
    app.exception_handler(EmulatedError)(emulated_error)
    app.exception_handler(StarletteHTTPException)(no_route)
    app.exception_handler(Exception)(emulator_bug)
    for router in ROUTERS:
        app.include_router(router)
    return FaultsAndLog(app, backend)
