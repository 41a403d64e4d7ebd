"""A gateway's place in a cluster: it claims its sessions, finds the others', forwards commands.

The gateway claims a session in Redis before it opens it (before the engine starts): a session
another live node holds is ``SessionElsewhere``, and a claim also counts the session against
its owner's ``concurrent_sessions`` there, atomically. The claim is released once the session
has closed here (what it said stored), so another node that takes the id over resumes the whole
conversation from the store. A command for a session held elsewhere (mute, remove, end) goes
to the holder's control channel and the answer comes back on a reply key (``forward``); the
holder runs it with ``handle``, set by the app. Redis unreachable never stops this node from
serving its own sessions: it answers as a single node would (its own sessions only; limits
counted here) and records its claims once Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from redis.exceptions import RedisError

from voxgate.server.auth import APIError
from voxgate.server.cluster.answers import SessionElsewhere
from voxgate.server.cluster.registry import Cluster, Command, Node, default_node_id
from voxgate.session import Session
from voxgate.settings import Settings

log = logging.getLogger(__name__)

Handler = Callable[[Command], Awaitable[Command]]
"""Runs a forwarded command here and says how it went (``{"status", "body"|"error"}``)."""


def node_url(settings: Settings) -> str:
    """The base URL clients reach this node at (``node_url``, else from host and port)."""
    if settings.node_url:
        return settings.node_url.rstrip("/")
    host = settings.host if ":" not in settings.host else f"[{settings.host}]"
    return f"http://{host}:{settings.port}"


class ClusterNode:
    """A gateway's node in the cluster of ``settings.redis_url`` (``start``, then ``stop``)."""

    def __init__(self, settings: Settings) -> None:
        assert settings.redis_url is not None
        if settings.node_url is None and settings.host in ("0.0.0.0", "::"):
            log.warning(
                "cluster: VOXGATE_NODE_URL is not set and the node listens on %s: other nodes "
                "will send clients to %s; set the URL clients reach this node at",
                settings.host,
                node_url(settings),
            )
        self.cluster = Cluster(
            settings.redis_url,
            node_id=settings.node_id or default_node_id(settings.host, settings.port),
            node_url=node_url(settings),
            prefix=settings.cluster_prefix,
            heartbeat_s=settings.cluster_heartbeat_s,
            node_ttl_s=settings.cluster_node_ttl_s,
            on_command=self._command,
        )
        self.command_timeout_s = settings.cluster_command_timeout_s
        self.handle: Handler | None = None
        """Runs a command another node forwarded (the app sets it)."""
        self._held: dict[str, Session | None] = {}  # claimed here → the session, once open
        self._locks = _IdLocks()
        self._watchers: set[asyncio.Task[None]] = set()

    @property
    def node(self) -> Node:
        """The node: its id, URL, and whether it drains."""
        return self.cluster.node

    async def start(self) -> None:
        """Register and heartbeat (Redis unreachable: serve anyway, register once it is back)."""
        await self.cluster.start()
        log.info("cluster: node %s at %s", self.node.id, self.node.url)

    async def stop(self) -> None:
        """Deregister: this node and every claim it holds leave the registry."""
        for task in self._watchers:
            task.cancel()
        await self.cluster.stop()

    async def drain(self) -> None:
        """Tell the other nodes this one takes no new sessions."""
        await self.cluster.drain()

    async def elsewhere(self, session_id: str) -> Node | None:
        """The other live node holding ``session_id``; None: here, nowhere, Redis unreachable."""
        if session_id in self._held:
            return None
        try:
            node = await self.cluster.locate(session_id)
        except (RedisError, OSError) as exc:
            log.warning("cluster: could not look up session %s (%s)", session_id, exc)
            return None
        return node if node is not None and node.id != self.node.id else None

    async def another_node(self) -> Node | None:
        """A live node other than this one that takes new sessions, if any is known."""
        with contextlib.suppress(RedisError, OSError):
            for node in await self.cluster.nodes():
                if node.id != self.node.id and not node.draining:
                    return node
        return None

    async def check_here(self, session_id: str) -> None:
        """``SessionElsewhere`` if another live node holds ``session_id``."""
        other = await self.elsewhere(session_id)
        if other is not None:
            raise SessionElsewhere(session_id, other)

    async def claim(self, session_id: str, *, owner: str | None, limit: int | None) -> None:
        """Claim ``session_id`` for a session about to open here (``bind`` it once open).

        ``SessionElsewhere`` if another live node holds it; ``OwnerLimit`` when ``owner``
        already holds ``limit`` sessions across the cluster. Nothing is claimed then.
        """
        async with self._locks.hold(session_id):
            other = await self.cluster.claim(session_id, owner=owner, limit=limit)
            if other is not None:
                raise SessionElsewhere(session_id, other)
            self._held.setdefault(session_id, None)

    def bind(self, session: Session) -> None:
        """``session`` opened under its claim: the claim goes once it has closed."""
        if self._held.get(session.id, session) is session:
            return  # not claimed here, or already bound
        self._held[session.id] = session
        task = asyncio.create_task(self._release_after(session), name=f"release {session.id}")
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _release_after(self, session: Session) -> None:
        await session.closed.wait()
        async with self._locks.hold(session.id):
            if self._held.get(session.id) is session:  # not claimed again meanwhile
                del self._held[session.id]
                await self.cluster.release(session.id)

    async def count(self, owner: str) -> int | None:
        """Sessions ``owner`` holds across the cluster (None: Redis unreachable)."""
        try:
            return await self.cluster.count(owner)
        except (RedisError, OSError) as exc:
            log.warning("cluster: could not count the sessions of an owner (%s)", exc)
            return None

    async def forward(self, node: Node, command: Command) -> Command:
        """Send ``command`` to ``node`` and return its answer.

        ``APIError`` 504: it did not answer within ``cluster_command_timeout_s``; 503: Redis is
        unreachable.
        """
        try:
            reply = await self.cluster.request(node.id, command, self.command_timeout_s)
        except (RedisError, OSError) as exc:
            raise APIError(
                503,
                f"the cluster's Redis is unreachable, so node {node.id} ({node.url}), which holds "
                f"the session, cannot be asked: {exc}",
                code="cluster_unavailable",
                type_="server_error",
            ) from None
        if reply is None:
            raise APIError(
                504,
                f"node {node.id} ({node.url}) holds the session but did not answer within "
                f"{self.command_timeout_s:g} s; try again, or ask that node directly",
                code="node_timeout",
                type_="server_error",
            )
        return reply

    async def _command(self, command: Command) -> Command | None:
        if command.get("op") != "control" or self.handle is None:
            return None
        return await self.handle(command)


class _IdLocks:
    """One asyncio lock per session id, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold ``key``'s lock for the block."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
