"""The FastAPI application: routes, static web UI, the engine factory, and the gateway.

When the server requires a credential (``server/credentials.py``) every route needs one but
``/healthz`` and the page (``/``, ``/static``): the page asks for a key when
``/api/client-config`` answers 401. ``/docs`` and ``/openapi.json`` are routes of ours so that
they take the key too.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.requests import HTTPConnection
from starlette.types import ExceptionHandler

from voxgate import __version__
from voxgate.agents.runs.api import RunCaller, runs_router
from voxgate.components.tts import StreamingTextToSpeech, TextToSpeech
from voxgate.engines import Engine
from voxgate.engines.local import LocalEngine, LocalModels, SessionConfig, load_models
from voxgate.engines.loopback import LoopbackEngine
from voxgate.engines.openai import OpenAIEngine, describe_session
from voxgate.engines.voiced import VoicedEngine
from voxgate.protocol import Event, ProtocolError
from voxgate.server import (
    client_secrets,
    controls,
    conversations,
    direct,
    metrics,
    openai_api,
    participants,
    sessions,
    users_api,
    voice,
)
from voxgate.server.auth import APIError, api_error_handler
from voxgate.server.gateway import DocsDep, Gateway, GatewayDep, GrantDep
from voxgate.server.origins import OriginMiddleware
from voxgate.settings import Settings
from voxgate.transports.http import BodyLimit, recursion_error_handler

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def create_app(
    settings: Settings | None = None,
    *,
    models: LocalModels | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """The app; models load at start-up unless given (tests share one set).

    ``tracer_provider``: where OpenTelemetry spans go (default: as the settings say).
    """
    settings = settings or Settings()
    gateway = Gateway(settings, tracer_provider=tracer_provider)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gateway.open_store()
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
                gateway.speech.provide(tts)

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

            gateway.speech.provide(loaded.tts, loaded.foreground)

            # each agent's prompts, evaluated before a session first needs them (a handoff)
            configs = gateway.agents.session_configs()
            gateway.preparing = gateway.spawn(
                _prepare(loaded, [functools.partial(local_config, s) for s in configs])
            )

            def describe(session: Event | None) -> Event:
                return local_config(session).to_session()

        gateway.start(new_engine, describe)
        gateway.spawn(gateway.loop_lag.run())
        if gateway.cluster is not None:
            gateway.cluster.handle = functools.partial(controls.on_command, gateway)
            await gateway.cluster.start()
        await _warn_about_auth(gateway)
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
    upload_limit = settings.record_max_upload_bytes + voice.FORM_OVERHEAD_BYTES
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_event_bytes,
        by_path=dict.fromkeys(voice.UPLOAD_PATHS, upload_limit),
    )
    app.include_router(sessions.router)
    app.include_router(participants.router)
    app.include_router(controls.router)
    app.include_router(openai_api.router)
    app.include_router(runs_router(run_caller))
    app.include_router(users_api.router)
    app.include_router(client_secrets.router)
    app.include_router(direct.router)
    app.include_router(metrics.router)
    app.include_router(conversations.router)
    app.include_router(voice.router)

    @app.get("/healthz", response_model=None)
    async def healthz() -> dict[str, Any] | JSONResponse:
        """Liveness: the models are loaded and the server takes sessions (503: it drains).

        ``ready`` turns true once the model is prepared for every agent: until then a first
        turn waits on that (a load balancer or a benchmark may wait for it).
        """
        health: dict[str, Any] = {"status": "ok", "version": __version__}
        health["sessions"] = len(gateway.registry)
        health["ready"] = gateway.ready
        if gateway.cluster is not None:
            health["node"] = {"id": gateway.cluster.node.id, "url": gateway.cluster.node.url}
        if gateway.draining:
            return JSONResponse({**health, "status": "draining"}, status_code=503)
        return health

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(grant: DocsDep) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def docs(grant: DocsDep) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="voxgate API")

    @app.get("/api/client-config")
    async def client_config(grant: GrantDep) -> dict[str, Any]:
        """What the web page needs before it connects: features, ICE servers, agents.

        The features and agents are the caller's. When a credential is required it takes one
        (its ICE servers may hold TURN credentials): a 401 tells the page to ask for a key.
        """
        features = gateway.policy.features_for(grant)
        if settings.engine == "loopback":  # nothing to transcribe or answer with
            features["record_and_send"] = False
        return {
            "webrtc": {
                "enabled": features["webrtc"],
                "ice_servers": [
                    s.model_dump(exclude_none=True) for s in settings.webrtc_ice_servers
                ],
            },
            "direct": {"enabled": features["direct_mode"]},
            "record_and_send": {
                "enabled": features["record_and_send"],
                "max_seconds": settings.record_max_seconds,
            },
            "images": {"max_bytes": settings.max_image_bytes},
            "features": features,
            "agents": [a for a in gateway.agents.names if gateway.policy.agent(grant, a)],
            "auth": {"required": await gateway.auth.required()},
        }

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


async def run_caller(conn: HTTPConnection, gateway: GatewayDep) -> RunCaller:
    """Who calls ``/api/runs``; an admin sees every run, a user their own.

    Route group ``runs`` (no ticket), the runner's ``agent_roles``, and the right to a
    ``?session_id=`` the run is narrated into.
    """
    grant = await gateway.admit(conn, "runs", tickets=False)
    runner = conn.path_params.get("agent_name")
    if runner is not None:
        gateway.policy.require_agent(grant, runner)
        session_id = conn.query_params.get("session_id")
        if session_id:
            gateway.rights.check(grant, session_id, gateway.registry.get(session_id))
    return RunCaller(grant.user_id, sees_all=grant.role == "admin")


async def _warn_about_auth(gateway: Gateway) -> None:
    settings = gateway.settings
    if not await gateway.auth.required():
        log.warning(
            "no credential required (no users, VOXGATE_API_KEYS or JWT issuer): every route "
            "is open to whoever reaches this server"
        )
    elif not (settings.api_keys or gateway.auth.tokens or await gateway.auth.users_exist()):
        log.warning(
            "VOXGATE_AUTH_REQUIRED is set but nobody can sign in: add a user with "
            "`voxgate users add NAME --role admin`, or set VOXGATE_API_KEYS"
        )


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
