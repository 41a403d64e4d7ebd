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
from voxgate.agents import runs as agent_runs
from voxgate.agents.runs.api import router as runs_router
from voxgate.engines import Engine
from voxgate.engines.local import LocalEngine, LocalModels, SessionConfig, load_models
from voxgate.session import AgentFactory, Session, SessionAgent, SessionRegistry
from voxgate.settings import Settings
from voxgate.transports import websocket

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None, *, models: LocalModels | None = None) -> FastAPI:
    """The app; models load at start-up unless given (tests share one set)."""
    settings = settings or Settings()
    tasks: set[asyncio.Task[Any]] = set()
    agent_factory, runs = _agents(settings)

    def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = models if models is not None else await asyncio.to_thread(load_models, settings)

        def new_engine() -> Engine:
            return LocalEngine(loaded, SessionConfig.from_settings(settings))

        app.state.registry = SessionRegistry(new_engine, agent_factory)
        log.info("voxgate %s ready: engine %s", __version__, settings.engine)
        yield
        await app.state.registry.close()
        await runs.close()
        for task in list(tasks):
            task.cancel()

    app = FastAPI(title="voxgate", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.spawn = spawn
    app.state.runs = runs
    app.include_router(websocket.router)
    app.include_router(runs_router)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness: the models are loaded and the server takes sessions."""
        return {"status": "ok", "version": __version__, "sessions": len(app.state.registry)}

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _agents(settings: Settings) -> tuple[AgentFactory | None, agent_runs.RunManager]:
    """The agent runtime for each session (from ``settings.agents``) and the runs they start."""
    from voxgate.agents import AgentRuntime
    from voxgate.agents.loader import load_agent

    runs = agent_runs.RunManager()
    if settings.agents == "none":
        return None, runs
    starting = load_agent(settings.agents)
    for agent in starting.graph():
        for tool in agent.all_tools():
            if isinstance(tool, agent_runs.DelegationTool):
                runs.add_runner(tool.runner)

    def runtime(session: Session) -> SessionAgent:
        return AgentRuntime(
            session,
            starting,
            tool_timeout=settings.tool_timeout_s,
            runs=runs,
            narration=settings.run_narration,
        )

    return runtime, runs
