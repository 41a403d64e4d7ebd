"""Cluster mode: several voxgate nodes share one Redis, so each knows where every session lives.

Enabled by a Redis URL (``redis_url``); a single node needs none of it. Keys, under a prefix:

- ``node:{id}`` — a live node (JSON: its URL, whether it drains), expiring ``node_ttl_s`` after
  its last heartbeat; ``nodes`` — the set of node ids ever seen and not yet reaped.
- ``session:{id}`` — the node holding that session; ``node:{id}:sessions`` — a node's sessions.
- ``control:{node}`` — a pub/sub channel of commands for a node (end a session, ...).

A node claims a session when it opens it and releases it when it closes; a claim held by a node
that stopped heartbeating is taken over. Each heartbeat also reaps dead nodes (one node per dead
node, under a lock): their sessions' keys go, so nobody is sent to them. Redis keeps nothing on
disk here: a node that finds its own key gone (Redis restarted) registers itself and its
sessions again. While Redis is unreachable, nodes go on serving their own sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Command = dict[str, Any]
"""A control message: ``{"op": "end", "session_id": ...}`` and the like."""

_TAKE_OVER = """
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] or redis.call('EXISTS', ARGV[2] .. current) == 0 then
  redis.call('SET', KEYS[1], ARGV[1])
  return ARGV[1]
end
return current
"""
"""Claim session KEYS[1] for node ARGV[1] unless a live node (key ARGV[2]..node) holds it."""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Node:
    """A live node: its id, the base URL clients reach it at, whether it drains."""

    id: str
    url: str
    draining: bool = False


class Cluster:
    """A node's view of the cluster (``start`` before use, ``stop`` at shutdown)."""

    def __init__(
        self,
        url: str,
        *,
        node_id: str,
        node_url: str,
        prefix: str = "voxgate",
        heartbeat_s: float = 2.0,
        node_ttl_s: float = 6.0,
        on_command: Callable[[Command], Awaitable[None]] | None = None,
    ) -> None:
        self.node = Node(node_id, node_url)
        self._redis = redis.from_url(url, decode_responses=True)
        self._prefix = prefix
        self._heartbeat_s = heartbeat_s
        self._ttl_ms = int(node_ttl_s * 1000)
        self._on_command = on_command
        self._sessions: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._take_over = self._redis.register_script(_TAKE_OVER)
        self._release = self._redis.register_script(_RELEASE)

    def _key(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    async def start(self) -> None:
        """Register this node and start heartbeating and listening for commands."""
        await self._register()
        self._tasks = [
            asyncio.create_task(self._beat(), name="cluster heartbeat"),
            asyncio.create_task(self._listen(), name="cluster control"),
        ]

    async def stop(self) -> None:
        """Deregister: this node and its sessions leave the registry."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, RedisError):
                await task
        with contextlib.suppress(RedisError, OSError):
            await self._forget(self.node.id)
        await self._redis.aclose()

    async def drain(self) -> None:
        """Stop taking new sessions: other nodes see this one draining."""
        self.node = Node(self.node.id, self.node.url, draining=True)
        with contextlib.suppress(RedisError, OSError):
            await self._announce()

    async def claim(self, session_id: str) -> Node | None:
        """Hold ``session_id`` here; the live node that holds it instead, if another does.

        With Redis unreachable the claim is kept locally and made once it is back.
        """
        self._sessions.add(session_id)
        try:
            owner = await self._take_over(
                keys=[self._key("session", session_id)],
                args=[self.node.id, self._key("node", "")],
            )
            if owner != self.node.id:
                self._sessions.discard(session_id)
                return await self.node_info(owner)
            await self._redis.sadd(self._key("node", self.node.id, "sessions"), session_id)
        except (RedisError, OSError) as exc:
            log.warning("cluster: claim of %s not recorded (%s)", session_id, exc)
        return None

    async def release(self, session_id: str) -> None:
        """Let go of ``session_id`` (the session closed here)."""
        self._sessions.discard(session_id)
        with contextlib.suppress(RedisError, OSError):
            await self._release(keys=[self._key("session", session_id)], args=[self.node.id])
            await self._redis.srem(self._key("node", self.node.id, "sessions"), session_id)

    async def locate(self, session_id: str) -> Node | None:
        """The live node holding ``session_id``, if any."""
        owner = await self._redis.get(self._key("session", session_id))
        return await self.node_info(str(owner)) if owner else None

    async def node_info(self, node_id: str) -> Node | None:
        """A live node by id (None: unknown or dead)."""
        raw = await self._redis.get(self._key("node", node_id))
        if raw is None:
            return None
        data = json.loads(raw)
        return Node(node_id, data["url"], bool(data.get("draining")))

    async def nodes(self) -> list[Node]:
        """Every live node."""
        found = []
        for node_id in sorted(map(str, await self._redis.smembers(self._key("nodes")))):
            node = await self.node_info(node_id)
            if node is not None:
                found.append(node)
        return found

    async def send(self, node_id: str, command: Command) -> bool:
        """Send a command to a node; whether a node was listening."""
        return bool(await self._redis.publish(self._key("control", node_id), json.dumps(command)))

    async def _announce(self) -> None:
        value = json.dumps({"url": self.node.url, "draining": self.node.draining})
        await self._redis.set(self._key("node", self.node.id), value, px=self._ttl_ms)

    async def _register(self) -> None:
        """Announce this node and (again) every session it holds."""
        await self._announce()
        await self._redis.sadd(self._key("nodes"), self.node.id)
        for session_id in list(self._sessions):
            await self.claim(session_id)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_s)
            try:
                if not await self._redis.exists(self._key("node", self.node.id)):
                    log.warning("cluster: this node's registration was gone; registering again")
                    await self._register()
                else:
                    await self._announce()
                await self._reap()
            except (RedisError, OSError) as exc:
                log.warning("cluster: Redis unreachable (%s); serving local sessions", exc)

    async def _reap(self) -> None:
        """Remove nodes that stopped heartbeating, with their sessions."""
        for node_id in map(str, await self._redis.smembers(self._key("nodes"))):
            if node_id == self.node.id or await self._redis.exists(self._key("node", node_id)):
                continue
            lock = self._key("reap", node_id)
            if await self._redis.set(lock, self.node.id, nx=True, px=self._ttl_ms):
                log.warning("cluster: node %s is gone; removing its sessions", node_id)
                await self._forget(node_id)

    async def _forget(self, node_id: str) -> None:
        sessions_key = self._key("node", node_id, "sessions")
        for session_id in map(str, await self._redis.smembers(sessions_key)):
            await self._release(keys=[self._key("session", session_id)], args=[node_id])
        await self._redis.delete(sessions_key, self._key("node", node_id))
        await self._redis.srem(self._key("nodes"), node_id)

    async def _listen(self) -> None:
        channel = self._key("control", self.node.id)
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(channel)
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        await self._handle(message["data"])
            except (RedisError, OSError) as exc:
                log.warning("cluster: control channel lost (%s); resubscribing", exc)
                await asyncio.sleep(self._heartbeat_s)

    async def _handle(self, data: str) -> None:
        try:
            command = json.loads(data)
        except ValueError:
            log.warning("cluster: a control message that is not JSON: %.200r", data)
            return
        if self._on_command is not None:
            try:
                await self._on_command(command)
            except Exception:
                log.exception("cluster: command %r failed", command)


def default_node_id(host: str, port: int) -> str:
    """A node id when none is configured: host, port and start time."""
    return f"{host}:{port}:{int(time.time())}"
