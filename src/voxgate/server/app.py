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
from voxgate.engines.loopback import LoopbackEngine
from voxgate.session import AgentFactory, Session, SessionAgent, SessionRegistry
from voxgate.settings import Settings
from voxgate.transports import calls, webrtc, websocket

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None, *, models: LocalModels | None = None) -> FastAPI:
    """The app; models load at start-up unless given (tests share one set)."""
    settings = settings or Settings()
    tasks: set[asyncio.Task[Any]] = set()
    agent_requests: dict[str, str] = {}  # session id -> the agent a new session starts with
    agent_factory, runs, agent_names = _agents(settings, agent_requests)

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

        app.state.registry = SessionRegistry(new_engine, agent_factory)
        log.info("voxgate %s ready: engine %s", __version__, settings.engine)
        yield
        await webrtc.close_peers(app)
        await app.state.registry.close()
        await runs.close()
        for task in list(tasks):
            task.cancel()

    app = FastAPI(title="voxgate", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.spawn = spawn
    app.state.runs = runs
    app.state.agent_names = agent_names
    app.state.agent_requests = agent_requests
    app.state.peers = {}
    app.include_router(websocket.router)
    app.include_router(webrtc.router)
    app.include_router(calls.router)
    app.include_router(runs_router)

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
            "agents": app.state.agent_names,
        }

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _agents(
    settings: Settings, requests: dict[str, str]
) -> tuple[AgentFactory | None, agent_runs.RunManager, list[str]]:
    """The agent runtime for each session (``settings.agents``), its runs, the agents' names.

    A new session starts with the agent ``requests`` names for it, if any.
    """
    from voxgate.agents import AgentRuntime
    from voxgate.agents.loader import load_agent

    runs = agent_runs.RunManager()
    if settings.agents == "none":
        return None, runs, []
    starting = load_agent(settings.agents)
    by_name = {agent.name: agent for agent in starting.graph()}
    for agent in starting.graph():
        for tool in agent.all_tools():
            if isinstance(tool, agent_runs.DelegationTool):
                runs.add_runner(tool.runner)

    def runtime(session: Session) -> SessionAgent:
        return AgentRuntime(
            session,
            by_name.get(requests.pop(session.id, ""), starting),
            tool_timeout=settings.tool_timeout_s,
            runs=runs,
            narration=settings.run_narration,
        )

    return runtime, runs, [starting.name, *(n for n in by_name if n != starting.name)]
