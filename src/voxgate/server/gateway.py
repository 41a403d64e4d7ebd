"""The gateway: what the app's routes share, as one typed object handed to them by dependency.

``create_app`` makes one ``Gateway``; a route names what it needs with ``gateway: GatewayDep``
(``grant: GrantDep`` for a route any valid key opens, ``grant: AdminDep`` for one an ephemeral
key does not). ``app.state.gateway`` is the app's only state, read by ``get_gateway`` (and by
``agents/runs/api.py``, which may not import server/; its router is included with
``AdminDep``'s dependency).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import HTTPConnection

from voxgate.engines import Engine
from voxgate.loop_lag import LoopLagWatchdog
from voxgate.protocol import Event
from voxgate.server.access import SessionRights
from voxgate.server.agent_catalog import AgentCatalog
from voxgate.server.auth import APIError, ClientSecrets, Grant, authenticate
from voxgate.server.direct_listener import DirectCalls
from voxgate.server.limits import RateLimits, SessionLimit
from voxgate.server.transcripts import Transcripts
from voxgate.session import AgentFactory, EngineFactory, Session, SessionRegistry
from voxgate.settings import Settings
from voxgate.transports.webrtc import Peers

DescribeSession = Callable[[Event | None], Event]
"""The session object an engine would start with, given a configuration (or defaults)."""


class Gateway:
    """Sessions and their clients, keys, limits, browser-direct calls and the agents of a server.

    The engine factory comes at start-up (``start``), once the models it needs have loaded.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.agents = AgentCatalog(settings)
        self.registry = SessionRegistry(
            self.new_engine,
            grace_s=settings.session_grace_seconds,
            max_participants=settings.max_participants,
        )
        self.peers = Peers(settings, self.registry, self.spawn)
        self.client_secrets = ClientSecrets()
        self.session_limit = SessionLimit(settings.direct_sessions_per_hour)
        self.limits = RateLimits(settings)
        self.rights = SessionRights()
        self.transcripts = Transcripts()
        self.direct_calls = DirectCalls(
            settings, self.transcripts, self.agents.starting(), self.spawn
        )
        self.loop_lag = LoopLagWatchdog(warn_ms=settings.loop_lag_warn_ms)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._engine_factory: EngineFactory | None = None
        self._describe_session: DescribeSession | None = None

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

    def authenticate(self, conn: HTTPConnection) -> Grant:
        """The connection's grant, or an ``APIError`` (401) in OpenAI's shape."""
        return authenticate(
            conn, api_keys=self.settings.api_keys, client_secrets=self.client_secrets
        )

    def open_session(
        self,
        conn: HTTPConnection,
        grant: Grant,
        session_id: str,
        *,
        config: Event | None = None,
        agent: AgentFactory | None = None,
    ) -> Session:
        """The session ``session_id`` for this caller, joined if live, else created.

        Joining needs the right to it (``SessionRights``); creating counts against the caller's
        session rate limit. ``APIError``: 403 (not the caller's to join), 429 (too many).
        """
        live = self.registry.get(session_id)
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


async def get_gateway(conn: HTTPConnection) -> Gateway:
    """FastAPI dependency: the app's gateway (HTTP routes and WebSockets alike)."""
    gateway: Gateway = conn.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def require_key(conn: HTTPConnection, gateway: GatewayDep) -> Grant:
    """FastAPI dependency: the request's grant, or a 401 in OpenAI's error shape."""
    return gateway.authenticate(conn)


GrantDep = Annotated[Grant, Depends(require_key)]
"""A route any valid key opens (an ephemeral key too: the route checks its session)."""


async def require_api_key(conn: HTTPConnection, gateway: GatewayDep) -> Grant:
    """FastAPI dependency: an API key (or the open default); an ephemeral key gets a 403."""
    grant = gateway.authenticate(conn)
    if grant.kind == "client_secret":
        raise APIError(
            403,
            "an ephemeral key opens only its own session; this needs an API key",
            code="insufficient_permissions",
        )
    return grant


AdminDep = Annotated[Grant, Depends(require_api_key)]
"""A route for API keys only (runs, docs, minting keys)."""
