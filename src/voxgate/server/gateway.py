"""The gateway: what the app's routes share, as one typed object handed to them by dependency.

It opens the store at start-up (``open_store``): every session it opens records into the
conversation of its id, and a new one resumes what is stored there. ``create_app`` makes one
``Gateway``; a route names what it needs with ``gateway: GatewayDep`` and a grant: ``GrantDep``
(any valid credential, a ticket too), or a role-aware one that says the route group, whether a
ticket will do and the feature it belongs to (``LiveDep``, ``VoiceDep``, ``WebRtcDep``,
``MintDep``, ``DirectDep``, ``HistoryDep``, ``DocsDep``, ``AdminDep``; ``allow(...)`` makes
more). ``app.state.gateway`` is the app's only state, read by ``get_gateway``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends
from starlette.requests import HTTPConnection

from voxgate.engines import Engine
from voxgate.loop_lag import LoopLagWatchdog
from voxgate.observability import Observers
from voxgate.observability.prometheus import Metrics
from voxgate.observability.tracing import tracing
from voxgate.protocol import Event
from voxgate.server.access import SessionRights, conversation_forbidden, owns
from voxgate.server.agent_catalog import AgentCatalog
from voxgate.server.auth import APIError, ClientSecrets, Grant
from voxgate.server.cluster import OwnerLimit
from voxgate.server.cluster.answers import NodeDraining
from voxgate.server.cluster.node import ClusterNode
from voxgate.server.cluster.rates import SharedRates
from voxgate.server.cluster.tickets import SharedTickets
from voxgate.server.credentials import Authenticator
from voxgate.server.direct_listener import DirectCalls
from voxgate.server.event_stream import event_stream
from voxgate.server.limits import RateLimits, SessionLimit
from voxgate.server.policy import Policy
from voxgate.server.speech import ServerVoice
from voxgate.server.usage import UsageLimits
from voxgate.session import (
    AgentFactory,
    EngineFactory,
    RecorderFactory,
    Session,
    SessionRecorder,
    SessionRegistry,
)
from voxgate.settings import Feature, RouteGroup, Settings
from voxgate.store import ConversationRef, Database, Recorder, database_url
from voxgate.store import Conversations as History
from voxgate.store.users import Users
from voxgate.transports.record import Conversations
from voxgate.transports.webrtc import Peers

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

log = logging.getLogger(__name__)
OWNER_LOOKUP_S = 2.0
"""How long opening a session waits to learn whose stored conversation its id is."""

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
        self.cluster = ClusterNode(settings) if settings.redis_url else None
        """This node's place in a cluster (cluster mode: ``redis_url``), else None."""
        node = self.cluster.node.id if self.cluster else f"{settings.host}:{settings.port}"
        self.events = event_stream(settings, settings.node_id or node, self.metrics.registry)
        """The analytics / audit stream (``events_url``), else None."""
        observers = (self.metrics, self.tracing, self.events)
        observer = Observers([o for o in observers if o is not None])
        self.registry = SessionRegistry(
            self.new_engine,
            observer=observer,
            grace_s=settings.session_grace_seconds,
            max_participants=settings.max_participants,
        )
        self.peers = Peers(settings, self.registry, self.spawn)
        self.client_secrets = ClientSecrets()
        self.auth = Authenticator(settings, self.client_secrets)
        self.policy = Policy(settings)
        self.users: Users | None = None
        self.session_limit = SessionLimit(settings.direct_sessions_per_hour)
        self.limits = RateLimits(settings)
        self.rights = SessionRights()
        self.agents.runs.owner_of = self.rights.user_of
        self.direct_calls = DirectCalls(settings, self.agents.starting(), self.spawn, observer)
        self.loop_lag = LoopLagWatchdog(
            warn_ms=settings.loop_lag_warn_ms, on_lag=self.metrics.loop_lagged
        )
        self.draining = False
        """Set when the node drains (``server/drain.py``): no new sessions."""
        self.tickets: SharedTickets | None = None
        """Tickets every node knows (cluster mode), else None."""
        if self.cluster is not None:
            self.limits.share(SharedRates(self.cluster.cluster).take)
            self.tickets = SharedTickets(self.cluster.cluster)
            self.auth.shared_tickets = self.tickets.get
        self.usage = UsageLimits(
            settings,
            self.rights,
            lambda: self.database,
            self.spawn,
            count=self.cluster.count if self.cluster is not None else None,
        )
        self.conversations = Conversations(self.registry, self.spawn, keep_s=settings.record_keep_s)
        self.speech = ServerVoice(settings.voice)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.preparing: asyncio.Task[Any] | None = None
        """The model's preparation for every agent, while it runs (a first turn waits on it)."""
        self._engine_factory: EngineFactory | None = None
        self._describe_session: DescribeSession | None = None
        self._database: Database | None = None
        self._history: History | None = None
        self._recorder: Recorder | None = None

    async def open_store(self) -> None:
        """Open the store (``database_url``, else SQLite in ``data_dir``): users, conversations."""
        url = database_url(self.settings.database_url, self.settings.data_dir)
        self._database = await Database.open(url)
        self.users = self.auth.users = Users(self._database)
        self._history = History(self._database)
        tap = self.events.conversation if self.events is not None else None
        self._recorder = Recorder(self._history, summaries=self.settings.summaries, tap=tap)

    @property
    def database(self) -> Database:
        """The store's database (open once the gateway has started)."""
        if self._database is None:
            raise RuntimeError("the gateway has not started: no store yet")
        return self._database

    @property
    def history(self) -> History:
        """The store's conversations repository (the history API's, the transcripts')."""
        if self._history is None:
            raise RuntimeError("the gateway has not started: no store yet")
        return self._history

    @property
    def recorder(self) -> Recorder:
        """The write queue live sessions record into."""
        if self._recorder is None:
            raise RuntimeError("the gateway has not started: no store yet")
        return self._recorder

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

    async def open_session(
        self,
        conn: HTTPConnection,
        grant: Grant,
        session_id: str,
        *,
        transport: str,
        config: Event | None = None,
        agent: AgentFactory | None = None,
        agent_name: str | None = None,
        private: bool = False,
    ) -> Session:
        """The session ``session_id`` for this caller, joined if live, else created.

        Joining needs the right to it (``SessionRights``) and the conversation of that id must
        be the caller's (or the caller an admin); a new session resumes a stored conversation
        and records into it. Creating counts against the caller's session rate limit; in a
        cluster it is claimed first (``ClusterNode.claim``).
        ``APIError``: 403 (not the caller's to join), 429 (too many), 409 (live on another
        node: ``SessionElsewhere``), 503 (the node drains: ``NodeDraining``).
        ``private``: a session of the server's own under a new id (``new_id``) that no client
        joins (a one-off transcription): any key may open it, an ephemeral one too, and it is
        not recorded.
        """
        live = self.registry.get(session_id)
        if not private or live is not None:
            self.rights.check(grant, session_id, live)
            await self.check_conversation(grant, session_id)
            live = self.registry.get(session_id)
            self.rights.check(grant, session_id, live)
        if live is not None:
            return live
        cluster = None if private else self.cluster
        if self.draining:
            raise NodeDraining(await self.cluster.another_node() if self.cluster else None)
        if cluster is not None:
            await cluster.check_here(session_id)
        if not private:
            await self.usage.admit(grant)
        await self.limits.sessions.take(conn, grant)
        if agent is not None and agent_name is None and self.agents.names:
            agent_name = self.agents.names[0]
        recorder = (
            None
            if private
            else self.recording(grant, session_id, transport=transport, agent=agent_name)
        )
        if cluster is not None:
            try:
                await cluster.claim(session_id, owner=grant.caller, limit=self.usage.at_once(grant))
            except OwnerLimit as exc:
                raise self.usage.too_many_at_once(exc.count) from None
        session = self.registry.open(session_id, config=config, agent=agent, recorder=recorder)
        if cluster is not None:
            cluster.bind(session)
        self.rights.opened(session, grant)
        if not private:
            self.usage.track(session, grant)
        return session

    def recording(
        self,
        grant: Grant,
        conversation_id: str,
        *,
        transport: str,
        agent: str | None = None,
        restore: bool = True,
    ) -> RecorderFactory:
        """What records a new session into conversation ``conversation_id`` for ``grant``.

        ``restore``: the session's engine first gets the stored conversation.
        """
        admin = grant.role == "admin"
        ref = ConversationRef(conversation_id, grant.user_id, agent, transport, admin=admin)

        def make(session: Session) -> SessionRecorder:
            return self.recorder.conversation(ref, restore=restore)

        return make

    async def conversation_owner(self, conversation_id: str) -> tuple[bool, str | None]:
        """Whether conversation ``conversation_id`` exists (live or stored), and its user.

        A store that does not answer in time counts as no conversation: the recorder still
        refuses to write into, or restore, another user's.
        """
        live = self.recorder.live(conversation_id)
        if live is not None:
            return True, live.user_id
        try:
            async with asyncio.timeout(OWNER_LOOKUP_S):
                info = await self.history.find(conversation_id)
        except Exception as exc:
            log.warning("the store did not say whose %s is: %r", conversation_id, exc)
            return False, None
        return (True, info.user_id) if info is not None else (False, None)

    async def check_conversation(self, grant: Grant, conversation_id: str) -> None:
        """A 403 if conversation ``conversation_id`` exists and is not ``grant``'s to use."""
        found, owner = await self.conversation_owner(conversation_id)
        if found and not owns(grant, owner):
            raise conversation_forbidden(conversation_id)

    @property
    def ready(self) -> bool:
        """Whether a first turn is as quick as the rest: the model is prepared for every agent."""
        return self.preparing is None or self.preparing.done()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a task that outlives the request that starts it; shutdown cancels it."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        """Server shutdown: leave direct calls, hang up peers, close sessions, stop runs.

        Then what the sessions recorded is stored and exported, the store closed, and the node
        leaves its cluster.
        """
        await self.direct_calls.close()
        await self.peers.close()
        await self.registry.close()
        await self.agents.runs.close()
        for task in list(self._tasks):
            task.cancel()
        if self.tracing is not None:
            self.tracing.close()
        if self._recorder is not None:
            await self._recorder.close()
        if self.events is not None:
            await self.events.close()
        if self._database is not None:
            await self._database.close()
        if self.cluster is not None:
            await self.cluster.stop()


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
