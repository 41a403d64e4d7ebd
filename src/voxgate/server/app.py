"""The FastAPI application: routes, static web UI, and the process-wide models and sessions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from voxgate import __version__
from voxgate.engines import Engine
from voxgate.engines.local import LocalEngine, LocalModels, SessionConfig, load_models
from voxgate.engines.loopback import LoopbackEngine
from voxgate.session import SessionRegistry
from voxgate.settings import Settings
from voxgate.transports import calls, webrtc, websocket

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None, *, models: LocalModels | None = None) -> FastAPI:
    """The app; models load at start-up unless given (tests share one set)."""
    settings = settings or Settings()
    tasks: set[asyncio.Task[Any]] = set()

    def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.engine == "loopback":

            def new_engine() -> Engine:
                return LoopbackEngine()

        else:
            loaded = (
                models if models is not None else await asyncio.to_thread(load_models, settings)
            )

            def new_engine() -> Engine:
                return LocalEngine(loaded, SessionConfig.from_settings(settings))

        app.state.registry = SessionRegistry(new_engine)
        log.info("voxgate %s ready: engine %s", __version__, settings.engine)
        yield
        await webrtc.close_peers(app)
        await app.state.registry.close()
        for task in list(tasks):
            task.cancel()

    app = FastAPI(title="voxgate", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.spawn = spawn
    app.state.peers = {}
    app.include_router(websocket.router)
    app.include_router(webrtc.router)
    app.include_router(calls.router)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness: the models are loaded and the server takes sessions."""
        return {"status": "ok", "version": __version__, "sessions": len(app.state.registry)}

    @app.get("/api/client-config")
    async def client_config() -> dict[str, Any]:
        """What the web page needs before it connects: WebRTC on or off, ICE servers, agents."""
        return {
            "webrtc": {
                "enabled": settings.webrtc_enabled,
                "ice_servers": [
                    s.model_dump(exclude_none=True) for s in settings.webrtc_ice_servers
                ],
            },
            "agents": list(getattr(app.state, "agent_names", [])),
        }

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
