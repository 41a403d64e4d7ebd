"""The gateway: what the app's routes share, as one typed object handed to them by dependency.

``create_app`` makes one ``Gateway``; a route names what it needs with ``gateway: GatewayDep``
and a grant: ``GrantDep`` (any valid credential, a ticket too), or a role-aware one that says
the route group, whether a ticket will do and the feature it belongs to (``LiveDep``,
``VoiceDep``, ``WebRtcDep``, ``MintDep``, ``DirectDep``, ``HistoryDep``, ``DocsDep``,
``AdminDep``; ``allow(...)`` makes more). ``app.state.gateway`` is the app's only state, read by
``get_gateway``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends
from starlette.requests import HTTPConnection

from voxgate.engines import Engine
from voxgate.loop_lag import LoopLagWatchdog
from voxgate.observability import Observers, SessionObserver
from voxgate.observability.prometheus import Metrics
from voxgate.observability.tracing import tracing
from voxgate.protocol import Event
from voxgate.server.access import SessionRights
from voxgate.server.agent_catalog import AgentCatalog
from voxgate.server.auth import APIError, ClientSecrets, Grant
from voxgate.server.credentials import Authenticator
from voxgate.server.direct_listener import DirectCalls
from voxgate.server.limits import RateLimits, SessionLimit
from voxgate.server.policy import Policy
from voxgate.server.speech import ServerVoice
from voxgate.server.transcripts import Transcripts
from voxgate.session import AgentFactory, EngineFactory, Session, SessionRegistry
from voxgate.settings import Feature, RouteGroup, Settings
from voxgate.store import Database, database_url
from voxgate.store.users import Users
from voxgate.transports.record import Conversations
from voxgate.transports.webrtc import Peers

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

DescribeSession = Callable[[Event | None], Event]
"""The session object an engine would start with, given a configuration (or defaults)."""


class Gateway:
    """Sessions and their clients, keys, limits, browser-direct calls and the agents of a server.

    The engine factory comes at start-up (``start``), once the models it needs have loaded.
    Every session is measured: ``metrics`` (``GET /metrics``) and, when asked for, ``tracing``
    (OpenTelemetry; ``tracer_provider`` is where its spans go, for tests).
    """

    def __init__(
        self, settings: Settings, *, tracer_provider: TracerProvider | None = None
    ) -> None:
        self.settings = settings
        self.agents = AgentCatalog(settings)
        self.metrics = Metrics()
        self.tracing = tracing(settings, tracer_provider)
        observer: SessionObserver = self.metrics
        if self.tracing is not None:
            observer = Observers([self.metrics, self.tracing])
        self.registry = SessionRegistry(self.new_engine, observer=observer)
        self.peers = Peers(settings, self.registry, self.spawn)
        self.client_secrets = ClientSecrets()
        self.auth = Authenticator(settings, self.client_secrets)
        self.policy = Policy(settings)
        self.database: Database | None = None
        self.users: Users | None = None
        self.session_limit = SessionLimit(settings.direct_sessions_per_hour)
        self.limits = RateLimits(settings)
        self.rights = SessionRights()
        self.agents.runs.owner_of = self.rights.user_of
        self.transcripts = Transcripts()
        self.direct_calls = DirectCalls(
            settings, self.transcripts, self.agents.starting(), self.spawn, observer
        )
        self.loop_lag = LoopLagWatchdog(
            warn_ms=settings.loop_lag_warn_ms, on_lag=self.metrics.loop_lagged
        )
        self.conversations = Conversations(self.registry, self.spawn, keep_s=settings.record_keep_s)
        self.speech = ServerVoice(settings.voice)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._engine_factory: EngineFactory | None = None
        self._describe_session: DescribeSession | None = None

    async def open_database(self) -> None:
        """Open (and migrate) the store: the users and their keys come from it."""
        url = database_url(self.settings.database_url, self.settings.data_dir)
        self.database = await Database.open(url)
        self.users = self.auth.users = Users(self.database)

    def start(self, engine_factory: EngineFactory, describe_session: DescribeSession) -> None:
        """Take the engine factory (the models are loaded): sessions may start."""
        self._engine_factory = engine_factory
        self._describe_session = describe_session

    def new_engine(self, config: Event | None = None) -> Engine:
        """A session's engine, started with ``config`` (or the server's defaults)."""
        if self._engine_factory is None:
            raise RuntimeError("the gateway has not started: no engine factory yet")
        return self._engine_factory(config)

    def describe_session(self, config: Event | None) -> Event:
        """The session object the server's engine starts with, given ``config``."""
        if self._describe_session is None:
            raise RuntimeError("the gateway has not started: no engine factory yet")
        return self._describe_session(config)

    async def authenticate(self, conn: HTTPConnection) -> Grant:
        """The connection's grant, or an ``APIError`` (401 / 403) in OpenAI's shape."""
        return await self.auth.authenticate(conn)

    async def admit(
        self,
        conn: HTTPConnection,
        group: RouteGroup,
        *,
        tickets: bool = True,
        feature: Feature | None = None,
    ) -> Grant:
        """The grant of a caller of a route of ``group``, or an ``APIError``.

        404: ``feature`` is off (for everyone, before the key is read; or for the caller's
        role); 401: no valid credential; 403: a role the group does not take, or
        (``tickets=False``) a ticket.
        """
        if feature is not None:
            self.policy.require_feature(None, feature)
        grant = await self.authenticate(conn)
        if grant.ticket and not tickets:
            raise APIError(
                403,
                "a ticket (ephemeral key) opens only its own session; this needs an API key "
                "or a token",
                code="insufficient_permissions",
            )
        self.policy.require(grant, group)
        if feature is not None:
            self.policy.require_feature(grant, feature)
        return grant

    def open_session(
        self,
        conn: HTTPConnection,
        grant: Grant,
        session_id: str,
        *,
        config: Event | None = None,
        agent: AgentFactory | None = None,
        private: bool = False,
    ) -> Session:
        """The session ``session_id`` for this caller, joined if live, else created.

        Joining needs the right to it (``SessionRights``); creating counts against the caller's
        session rate limit. ``APIError``: 403 (not the caller's to join), 429 (too many).
        ``private``: a session of the server's own under a new id (``new_id``) that no client
        joins (a one-off transcription): any key may open it, an ephemeral one too.
        """
        live = self.registry.get(session_id)
        if not private or live is not None:
            self.rights.check(grant, session_id, live)
        if live is not None:
            return live
        self.limits.sessions.take(conn, grant)
        session = self.registry.open(session_id, config=config, agent=agent)
        self.rights.opened(session, grant)
        return session

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a task that outlives the request that starts it; shutdown cancels it."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        """Server shutdown: leave direct calls, hang up peers, close sessions, stop runs."""
        await self.direct_calls.close()
        await self.peers.close()
        await self.registry.close()
        await self.agents.runs.close()
        for task in list(self._tasks):
            task.cancel()
        if self.tracing is not None:
            self.tracing.close()
        if self.database is not None:
            await self.database.close()


async def get_gateway(conn: HTTPConnection) -> Gateway:
    """FastAPI dependency: the app's gateway (HTTP routes and WebSockets alike)."""
    gateway: Gateway = conn.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def require_key(conn: HTTPConnection, gateway: GatewayDep) -> Grant:
    """FastAPI dependency: the request's grant, or a 401 in OpenAI's error shape."""
    return await gateway.authenticate(conn)


GrantDep = Annotated[Grant, Depends(require_key)]
"""A route any valid credential opens (a ticket too: the route checks its session)."""


def allow(
    group: RouteGroup, *, tickets: bool = True, feature: Feature | None = None
) -> Callable[..., Coroutine[Any, Any, Grant]]:
    """A dependency for a route of ``group`` (``Gateway.admit``)."""

    async def dependency(conn: HTTPConnection, gateway: GatewayDep) -> Grant:
        return await gateway.admit(conn, group, tickets=tickets, feature=feature)

    return dependency


LiveDep = Annotated[Grant, Depends(allow("live"))]
"""Joining or ending a live session (a ticket too)."""
VoiceDep = Annotated[Grant, Depends(allow("live", feature="live_voice"))]
"""Live voice over a WebSocket (``/ws``, ``/v1/realtime``)."""
WebRtcDep = Annotated[Grant, Depends(allow("live", feature="webrtc"))]
"""Backend WebRTC (``/api/webrtc/offer``, ``/v1/realtime/calls``)."""
MintDep = Annotated[Grant, Depends(allow("live", tickets=False))]
"""Minting tickets: an API key or a token, never a ticket."""
DirectDep = Annotated[Grant, Depends(allow("live", tickets=False, feature="direct_mode"))]
"""Browser-direct mode's minting and calls."""
HistoryDep = Annotated[Grant, Depends(allow("history"))]
"""Reading conversations (each caller their own; ``grant.user_id``)."""
DocsDep = Annotated[Grant, Depends(allow("docs", tickets=False))]
"""``/docs`` and ``/openapi.json``."""
AdminDep = Annotated[Grant, Depends(allow("users", tickets=False))]
"""User management: admins only."""
