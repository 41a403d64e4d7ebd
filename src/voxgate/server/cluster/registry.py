"""Cluster mode's registry: nodes sharing one Redis know where every session lives.

Enabled by a Redis URL (``redis_url``); a single node needs none of it. Keys, under a prefix:

- ``node:{id}`` — a live node (JSON: its URL, whether it drains), expiring ``node_ttl_s`` after
  its last heartbeat; ``nodes`` — the set of node ids ever seen and not yet reaped.
- ``session:{id}`` — the node holding that session; ``node:{id}:sessions`` — a node's sessions.
- ``owners`` — the user (or key) each held session counts against; ``owner:{owner}`` — the
  sessions an owner holds, cluster-wide (their number is the ``concurrent_sessions`` count).
- ``control:{node}`` — a pub/sub channel of commands for a node (end a session, ...);
  ``reply:{id}`` — a list the answer to one command is pushed to (``request``).

A node claims a session when it opens it and releases it when it closes; a claim held by a node
that stopped heartbeating is taken over. Each heartbeat also reaps dead nodes (one node per dead
node, under a lock): their sessions' keys go, with what they counted against their owners, so
nobody is sent to them. Redis keeps nothing on disk here: a node that finds its own key gone
(Redis restarted) registers itself and its sessions again. While Redis is unreachable, nodes go
on serving their own sessions: a claim that could not be recorded is kept here and recorded by
the next heartbeat that reaches Redis. One Redis, not Redis Cluster (the scripts name keys they
compute).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Command = dict[str, Any]
"""A control message: ``{"op": "end", "session_id": ...}`` and the like."""
REDIS_TIMEOUT_S = 2.0
"""How long one Redis command may take before the node counts Redis as unreachable."""

_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] and redis.call('EXISTS', ARGV[2] .. current) == 1 then
  return {'elsewhere', current}
end
if ARGV[4] ~= '' then
  local set = ARGV[6] .. ARGV[4]
  local limit = tonumber(ARGV[5])
  local count = redis.call('SCARD', set)
  if limit > 0 and count >= limit and redis.call('SISMEMBER', set, ARGV[3]) == 0 then
    return {'limit', tostring(count)}
  end
  local before = redis.call('HGET', KEYS[3], ARGV[3])
  if before and before ~= ARGV[4] then redis.call('SREM', ARGV[6] .. before, ARGV[3]) end
  redis.call('SADD', set, ARGV[3])
  redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[3])
return {'held', ARGV[1]}
"""
"""Claim session KEYS[1] (id ARGV[3]) for node ARGV[1] unless a live node (key ARGV[2]..node)
holds it, counting it against owner ARGV[4] (if any) unless that owner already holds ARGV[5]
(0: no limit). KEYS[2]: the node's sessions, KEYS[3]: the owners hash, ARGV[6]: owner prefix."""

_RELEASE = """
redis.call('SREM', KEYS[2], ARGV[2])
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
local owner = redis.call('HGET', KEYS[3], ARGV[2])
if owner then
  redis.call('SREM', ARGV[3] .. owner, ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2])
end
return 1
"""
"""Node ARGV[1] lets go of session KEYS[1] (id ARGV[2]) and its owner's count, if it holds it."""


@dataclass(frozen=True)
class Node:
    """A live node: its id, the base URL clients reach it at, whether it drains."""

    id: str
    url: str
    draining: bool = False


class OwnerLimit(Exception):
    """A claim refused: the session's owner already holds ``count`` sessions (the limit)."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} sessions held")
        self.count = count


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
        on_command: Callable[[Command], Awaitable[Command | None]] | None = None,
    ) -> None:
        self.node = Node(node_id, node_url)
        timeouts = {"socket_connect_timeout": REDIS_TIMEOUT_S, "socket_keepalive": True}
        self._redis = redis.from_url(
            url, decode_responses=True, socket_timeout=REDIS_TIMEOUT_S, **timeouts
        )
        # pub/sub and BLPOP wait longer than any command: a client of their own
        self._waiting = redis.from_url(
            url, decode_responses=True, health_check_interval=max(heartbeat_s, 1.0), **timeouts
        )
        self._prefix = prefix
        self._heartbeat_s = heartbeat_s
        self._ttl_ms = int(node_ttl_s * 1000)
        self._on_command = on_command
        self._sessions: dict[str, str | None] = {}  # held here → owner
        self._unrecorded: set[str] = set()  # held here, not (yet) in Redis
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._handling: set[asyncio.Task[None]] = set()
        self._claim = self._redis.register_script(_CLAIM)
        self._release = self._redis.register_script(_RELEASE)

    @property
    def redis(self) -> redis.Redis:
        """The client of the cluster's Redis (commands that answer within ``REDIS_TIMEOUT_S``)."""
        return self._redis

    def key(self, *parts: str) -> str:
        """A key under the cluster's prefix."""
        return ":".join((self._prefix, *parts))

    async def start(self) -> None:
        """Register this node and start heartbeating and listening for commands.

        Redis unreachable: the node starts anyway and registers once it is back.
        """
        try:
            await self._register()
        except (RedisError, OSError) as exc:
            log.warning("cluster: Redis unreachable at start (%s); registering later", exc)
        self._tasks = [
            asyncio.create_task(self._beat(), name="cluster heartbeat"),
            asyncio.create_task(self._listen(), name="cluster control"),
        ]

    async def stop(self) -> None:
        """Deregister: this node and its sessions leave the registry."""
        self._stopping = True  # a cancellation swallowed in a Redis call ends the loops too
        tasks = [*self._tasks, *self._handling]
        for task in tasks:
            task.cancel()
        if tasks:
            done, _ = await asyncio.wait(tasks, timeout=REDIS_TIMEOUT_S)
            for task in done:
                if not task.cancelled():
                    task.exception()  # retrieved: a failure on the way out is no news
        with contextlib.suppress(RedisError, OSError):
            await self._forget(self.node.id)
        await self._redis.aclose()
        await self._waiting.aclose()

    async def drain(self) -> None:
        """Stop taking new sessions: other nodes see this one draining."""
        self.node = Node(self.node.id, self.node.url, draining=True)
        with contextlib.suppress(RedisError, OSError):
            await self._announce()

    async def claim(
        self, session_id: str, *, owner: str | None = None, limit: int | None = None
    ) -> Node | None:
        """Hold ``session_id`` here; the live node that holds it instead, if another does.

        ``owner``: whom the session counts against (``count``); ``OwnerLimit`` when they
        already hold ``limit`` sessions. With Redis unreachable the claim is kept here (no
        limit checked) and recorded once Redis is back.
        """
        self._sessions[session_id] = owner
        try:
            result = await self._record(session_id, owner, limit)
        except (RedisError, OSError) as exc:
            log.warning("cluster: claim of %s not recorded yet (%s)", session_id, exc)
            self._unrecorded.add(session_id)
            return None
        except OwnerLimit:
            self._sessions.pop(session_id, None)
            raise
        self._unrecorded.discard(session_id)
        if result is not None:
            self._sessions.pop(session_id, None)
        return result

    async def _record(self, session_id: str, owner: str | None, limit: int | None) -> Node | None:
        for _ in range(3):  # the holder may die between the script and reading its node
            outcome, value = await self._claim(
                keys=[
                    self.key("session", session_id),
                    self.key("node", self.node.id, "sessions"),
                    self.key("owners"),
                ],
                args=[
                    self.node.id,
                    self.key("node", ""),
                    session_id,
                    owner or "",
                    limit or 0,
                    self.key("owner", ""),
                ],
            )
            if outcome == "held":
                return None
            if outcome == "limit":
                raise OwnerLimit(int(value))
            holder = await self.node_info(str(value))
            if holder is not None:
                return holder
        return None

    async def release(self, session_id: str) -> None:
        """Let go of ``session_id`` (the session closed here)."""
        self._sessions.pop(session_id, None)
        self._unrecorded.discard(session_id)
        with contextlib.suppress(RedisError, OSError):
            await self._release_of(self.node.id, session_id)

    async def _release_of(self, node_id: str, session_id: str) -> None:
        await self._release(
            keys=[
                self.key("session", session_id),
                self.key("node", node_id, "sessions"),
                self.key("owners"),
            ],
            args=[node_id, session_id, self.key("owner", "")],
        )

    async def count(self, owner: str) -> int:
        """How many sessions ``owner`` holds across the cluster."""
        return int(await self._redis.scard(self.key("owner", owner)))

    async def locate(self, session_id: str) -> Node | None:
        """The live node holding ``session_id``, if any."""
        owner = await self._redis.get(self.key("session", session_id))
        return await self.node_info(str(owner)) if owner else None

    async def node_info(self, node_id: str) -> Node | None:
        """A live node by id (None: unknown or dead)."""
        raw = await self._redis.get(self.key("node", node_id))
        if raw is None:
            return None
        data = json.loads(raw)
        return Node(node_id, data["url"], bool(data.get("draining")))

    async def nodes(self) -> list[Node]:
        """Every live node."""
        found = []
        for node_id in sorted(map(str, await self._redis.smembers(self.key("nodes")))):
            node = await self.node_info(node_id)
            if node is not None:
                found.append(node)
        return found

    async def send(self, node_id: str, command: Command) -> bool:
        """Send a command to a node; whether a node was listening."""
        return bool(await self._redis.publish(self.key("control", node_id), json.dumps(command)))

    async def request(self, node_id: str, command: Command, timeout: float) -> Command | None:
        """Send a command and wait for its answer; None when none came within ``timeout``."""
        reply_to = self.key("reply", uuid.uuid4().hex)
        if not await self.send(node_id, {**command, "reply_to": reply_to}):
            return None
        try:
            async with asyncio.timeout(timeout + REDIS_TIMEOUT_S):
                got = await self._waiting.blpop([reply_to], timeout=timeout)
        except TimeoutError:
            return None
        finally:
            with contextlib.suppress(RedisError, OSError):
                await self._redis.delete(reply_to)
        return json.loads(got[1]) if got else None

    async def _announce(self) -> None:
        value = json.dumps({"url": self.node.url, "draining": self.node.draining})
        await self._redis.set(self.key("node", self.node.id), value, px=self._ttl_ms)

    async def _register(self) -> None:
        """Announce this node and (again) every session it holds."""
        await self._announce()
        await self._redis.sadd(self.key("nodes"), self.node.id)
        self._unrecorded.update(self._sessions)
        await self._record_held()

    async def _record_held(self) -> None:
        """Record the claims Redis has not seen (it was unreachable, or restarted)."""
        for session_id in list(self._unrecorded):
            if session_id not in self._sessions:
                self._unrecorded.discard(session_id)
                continue
            holder = await self._record(session_id, self._sessions[session_id], None)
            self._unrecorded.discard(session_id)
            if holder is not None:
                log.error(
                    "cluster: session %s is live here and on node %s (claimed there while "
                    "Redis was unreachable from here)",
                    session_id,
                    holder.id,
                )

    async def _beat(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._heartbeat_s)
            try:
                if not await self._redis.exists(self.key("node", self.node.id)):
                    log.warning("cluster: this node's registration was gone; registering again")
                    await self._register()
                else:
                    await self._announce()
                    await self._record_held()
                await self._reap()
            except (RedisError, OSError) as exc:
                log.warning("cluster: Redis unreachable (%s); serving local sessions", exc)

    async def _reap(self) -> None:
        """Remove nodes that stopped heartbeating, with their sessions."""
        for node_id in map(str, await self._redis.smembers(self.key("nodes"))):
            if node_id == self.node.id or await self._redis.exists(self.key("node", node_id)):
                continue
            lock = self.key("reap", node_id)
            if await self._redis.set(lock, self.node.id, nx=True, px=self._ttl_ms):
                log.warning("cluster: node %s is gone; removing its sessions", node_id)
                await self._forget(node_id)

    async def _forget(self, node_id: str) -> None:
        sessions_key = self.key("node", node_id, "sessions")
        for session_id in map(str, await self._redis.smembers(sessions_key)):
            await self._release_of(node_id, session_id)
        await self._redis.delete(sessions_key, self.key("node", node_id))
        await self._redis.srem(self.key("nodes"), node_id)

    async def _listen(self) -> None:
        channel = self.key("control", self.node.id)
        while not self._stopping:
            try:
                async with self._waiting.pubsub() as pubsub:
                    await pubsub.subscribe(channel)
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        task = asyncio.create_task(self._handle(message["data"]))
                        self._handling.add(task)
                        task.add_done_callback(self._handling.discard)
            except (RedisError, OSError) as exc:
                log.warning("cluster: control channel lost (%s); resubscribing", exc)
                await asyncio.sleep(self._heartbeat_s)

    async def _handle(self, data: str) -> None:
        try:
            command = json.loads(data)
        except ValueError:
            log.warning("cluster: a control message that is not JSON: %.200r", data)
            return
        if not isinstance(command, dict) or self._on_command is None:
            return
        try:
            reply = await self._on_command(command)
        except Exception:
            log.exception("cluster: command %.200r failed", command)
            return
        reply_to = command.get("reply_to")
        if reply is not None and isinstance(reply_to, str) and reply_to.startswith(self._prefix):
            with contextlib.suppress(RedisError, OSError):
                async with self._redis.pipeline() as pipe:
                    pipe.rpush(reply_to, json.dumps(reply))
                    pipe.expire(reply_to, 60)
                    await pipe.execute()


def default_node_id(host: str, port: int) -> str:
    """A node id when none is configured: host, port, process id and start time."""
    return f"{host}:{port}:{os.getpid()}:{int(time.time())}"
