"""The FastAPI application: routes, static web UI, and the process-wide models and sessions."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from voxgate import __version__
from voxgate.agents import runs as agent_runs
from voxgate.agents.runs.api import router as runs_router
from voxgate.components.tts import StreamingTextToSpeech, TextToSpeech
from voxgate.engines import Engine
from voxgate.engines.local import LocalEngine, LocalModels, SessionConfig, load_models
from voxgate.engines.loopback import LoopbackEngine
from voxgate.engines.openai import OpenAIEngine, describe_session
from voxgate.engines.voiced import VoicedEngine
from voxgate.protocol import Event, ProtocolError
from voxgate.server.auth import APIError, ClientSecrets, api_error_handler
from voxgate.server.limits import SessionLimit
from voxgate.session import AgentFactory, Session, SessionAgent, SessionRegistry
from voxgate.settings import Settings
from voxgate.transports import (
    calls,
    client_secrets,
    direct,
    realtime,
    sideband,
    webrtc,
    websocket,
)

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None, *, models: LocalModels | None = None) -> FastAPI:
    """The app; models load at start-up unless given (tests share one set)."""
    settings = settings or Settings()
    tasks: set[asyncio.Task[Any]] = set()
    agent_requests: dict[str, str] = {}  # session id -> the agent a new session starts with
    agent_factory, runs, agent_names, agent_sessions = _agents(settings, agent_requests)

    def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.engine == "loopback":

            def new_engine(session: Event | None = None) -> Engine:
                return LoopbackEngine()

            app.state.describe_session = lambda session: session or {}
        elif settings.engine == "openai":
            tts: TextToSpeech | None = None
            if settings.openai_voice_provider == "piper":
                from voxgate.components.tts.piper import PiperTTS

                tts = models.tts if models is not None else await asyncio.to_thread(PiperTTS)

            def new_engine(session: Event | None = None) -> Engine:
                engine = OpenAIEngine(settings, session)
                speaker: TextToSpeech | StreamingTextToSpeech | None = tts
                if settings.openai_voice_provider == "cartesia":  # a connection per session
                    from voxgate.components.tts.cartesia import CartesiaTTS

                    speaker = CartesiaTTS.from_settings(settings)
                if speaker is None:
                    return engine
                modalities = (session or {}).get("output_modalities")
                return VoicedEngine(
                    engine, speaker, voice=settings.voice, output_modalities=modalities
                )

            app.state.describe_session = lambda session: describe_session(settings, session)
        else:
            loaded: LocalModels = (
                models if models is not None else await asyncio.to_thread(load_models, settings)
            )

            def local_config(session: Event | None) -> SessionConfig:
                config = SessionConfig.from_settings(settings)
                if session is not None:
                    config.update(session)
                return config

            def new_engine(session: Event | None = None) -> Engine:
                return LocalEngine(loaded, local_config(session))

            # each agent's prompts, evaluated before a session first needs them (a handoff)
            spawn(_prepare(loaded, [functools.partial(local_config, s) for s in agent_sessions]))

            app.state.describe_session = lambda session: local_config(session).to_session()
        app.state.registry = SessionRegistry(new_engine, agent_factory)
        if not settings.api_keys:
            log.warning("no VOXGATE_API_KEYS set: /v1/realtime accepts any bearer key")
        log.info("voxgate %s ready: engine %s", __version__, settings.engine)
        yield
        await sideband.close_sidebands(app)
        await webrtc.close_peers(app)
        await app.state.registry.close()
        await runs.close()
        for task in list(tasks):
            task.cancel()

    app = FastAPI(title="voxgate", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.spawn = spawn
    app.state.runs = runs
    app.state.client_secrets = ClientSecrets()
    app.add_exception_handler(APIError, api_error_handler)
    app.state.agent_names = agent_names
    app.state.agent_requests = agent_requests
    app.state.peers = {}
    app.state.agent_factory = agent_factory
    app.state.sidebands = {}
    app.state.transcripts = sideband.Transcripts()
    app.state.session_limit = SessionLimit(settings.direct_sessions_per_hour)
    app.include_router(websocket.router)
    app.include_router(webrtc.router)
    app.include_router(calls.router)
    app.include_router(runs_router)
    app.include_router(realtime.router)
    app.include_router(client_secrets.router)
    app.include_router(direct.router)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness: the models are loaded and the server takes sessions."""
        return {"status": "ok", "version": __version__, "sessions": len(app.state.registry)}

    @app.get("/api/client-config")
    async def client_config() -> dict[str, Any]:
        """What the web page needs before it connects: WebRTC, ICE servers, direct mode, agents."""
        return {
            "webrtc": {
                "enabled": settings.webrtc_enabled,
                "ice_servers": [
                    s.model_dump(exclude_none=True) for s in settings.webrtc_ice_servers
                ],
            },
            "direct": {"enabled": settings.direct_mode_enabled},
            "agents": app.state.agent_names,
        }

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


async def _prepare(models: LocalModels, configs: list[Callable[[], SessionConfig]]) -> None:
    for make in configs:
        try:
            config = make()
        except ProtocolError:
            continue  # an agent's bad tool is reported to its sessions, not here
        try:
            await models.llm.prepare(config.instructions, config.tools)
        except Exception:
            log.exception("preparing the language model for an agent failed")


def _agents(
    settings: Settings, requests: dict[str, str]
) -> tuple[AgentFactory | None, agent_runs.RunManager, list[str], list[Event]]:
    """The agents of ``settings.agents``: a runtime for each session, runs, names, sessions.

    A new session starts with the agent ``requests`` names for it, if any. The agents'
    ``session`` configurations come with the starting agent's last.
    """
    from voxgate.agents import AgentRuntime
    from voxgate.agents.loader import load_agent

    runs = agent_runs.RunManager()
    if settings.agents == "none":
        return None, runs, [], []
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

    others = [agent for name, agent in by_name.items() if name != starting.name]
    sessions = [agent.session_config() for agent in [*others, starting]]
    return runtime, runs, [starting.name, *(a.name for a in others)], sessions
