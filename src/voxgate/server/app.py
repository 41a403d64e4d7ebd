"""The FastAPI application: routes, static web UI, the engine factory, and the gateway.

With keys configured every route needs one but ``/healthz`` and the page (``/``, ``/static``):
the page asks for a key when ``/api/client-config`` answers 401. ``/docs`` and
``/openapi.json`` are routes of ours so that they take the key too.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ExceptionHandler

from voxgate import __version__
from voxgate.agents.runs.api import router as runs_router
from voxgate.components.tts import StreamingTextToSpeech, TextToSpeech
from voxgate.engines import Engine
from voxgate.engines.local import LocalEngine, LocalModels, SessionConfig, load_models
from voxgate.engines.loopback import LoopbackEngine
from voxgate.engines.openai import OpenAIEngine, describe_session
from voxgate.engines.voiced import VoicedEngine
from voxgate.protocol import Event, ProtocolError
from voxgate.server import client_secrets, direct, openai_api, participants, sessions
from voxgate.server.auth import APIError, api_error_handler
from voxgate.server.gateway import AdminDep, Gateway, GrantDep, require_api_key
from voxgate.server.origins import OriginMiddleware
from voxgate.settings import Settings
from voxgate.transports.http import BodyLimit, recursion_error_handler

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None, *, models: LocalModels | None = None) -> FastAPI:
    """The app; models load at start-up unless given (tests share one set)."""
    settings = settings or Settings()
    gateway = Gateway(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.engine == "loopback":

            def new_engine(session: Event | None = None) -> Engine:
                return LoopbackEngine()

            def describe(session: Event | None) -> Event:
                return session or {}
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

            def describe(session: Event | None) -> Event:
                return describe_session(settings, session)
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
            configs = gateway.agents.session_configs()
            gateway.spawn(_prepare(loaded, [functools.partial(local_config, s) for s in configs]))

            def describe(session: Event | None) -> Event:
                return local_config(session).to_session()

        gateway.start(new_engine, describe)
        gateway.spawn(gateway.loop_lag.run())
        if not settings.api_keys:
            log.warning(
                "no VOXGATE_API_KEYS set: every route is open to whoever reaches this server"
            )
        log.info("voxgate %s ready: engine %s", __version__, settings.engine)
        yield
        await gateway.close()

    app = FastAPI(
        title="voxgate",
        version=__version__,
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.gateway = gateway
    # one handler for both kinds of connection: an HTTP error, or a WebSocket closed 1008
    app.add_exception_handler(APIError, cast(ExceptionHandler, api_error_handler))
    app.add_exception_handler(RecursionError, recursion_error_handler)
    app.add_middleware(OriginMiddleware, settings=settings)
    app.add_middleware(BodyLimit, max_bytes=settings.max_event_bytes)
    app.include_router(sessions.router)
    app.include_router(participants.router)
    app.include_router(openai_api.router)
    app.include_router(runs_router, dependencies=[Depends(require_api_key)])
    app.include_router(client_secrets.router)
    app.include_router(direct.router)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness: the models are loaded and the server takes sessions."""
        return {"status": "ok", "version": __version__, "sessions": len(gateway.registry)}

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(grant: AdminDep) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def docs(grant: AdminDep) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="voxgate API")

    @app.get("/api/client-config")
    async def client_config(grant: GrantDep) -> dict[str, Any]:
        """What the web page needs before it connects: WebRTC, ICE servers, direct mode, agents.

        With keys configured it takes one (its ICE servers may hold TURN credentials): a 401
        tells the page to ask for a key.
        """
        return {
            "webrtc": {
                "enabled": settings.webrtc_enabled,
                "ice_servers": [
                    s.model_dump(exclude_none=True) for s in settings.webrtc_ice_servers
                ],
            },
            "direct": {"enabled": settings.direct_mode_enabled},
            "agents": gateway.agents.names,
            "auth": {"required": bool(settings.api_keys)},
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
