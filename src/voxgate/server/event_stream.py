"""Conversation and turn events exported to an analytics / audit stream (a Redis stream).

Turned on by ``events_url`` (``docs/cluster.md``). Each event is one stream entry (``XADD``)
with the fields ``type``, ``session_id``, ``node``, ``at`` (Unix seconds) and ``data`` (JSON):

- ``session.opened`` / ``session.closed``; ``participant.joined`` / ``participant.left``
  (``data.participants``: how many are in the session now);
- ``conversation.item`` — an item as the store keeps it (``data.item``: ``id``, ``type``,
  ``role``, ``text``, ``data``), again with the same ``id`` when it completes (a transcript);
  ``conversation.item.deleted``; ``conversation.summary``; ``conversation.ended``; every one of
  them with ``conversation_id``, ``user_id``, ``agent`` and ``transport``;
- ``response.metrics`` — a response's ``voxgate.metrics`` (status, latencies, tokens, cost);
- ``tool`` — a finished tool call (``name``, ``call_id``, ``status``, ``duration_ms``);
- ``error`` — an ``error`` event sent to the session's clients (``code``);
- ``turn`` — a user turn is over (``item_id``, ``responses``, ``tools``, ``duration_ms``).

Never on the audio path: the session's observers and the store's recorder only append to one
bounded buffer (``EventStream.put``); one task writes it in pipelined batches. While Redis is
away the buffer keeps the oldest ``max_pending`` events and counts what it could not keep; the
stream itself is capped near ``maxlen`` entries (``XADD MAXLEN ~``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import redis.asyncio as redis
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from voxgate.observability.observer import ObservedSession, Participant, SessionObserver
from voxgate.observability.turn import ToolTiming, TurnMetrics, TurnTrace
from voxgate.settings.cluster import ClusterSettings
from voxgate.store.records import (
    ConversationRef,
    DeleteItem,
    EndConversation,
    PutItem,
    PutSummary,
    Write,
)

log = logging.getLogger(__name__)

BATCH = 500
"""The most entries one round trip to Redis adds."""
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0
CLOSE_FLUSH_S = 3.0
"""How long closing waits for the buffer to reach Redis."""
REDIS_TIMEOUT_S = 5.0


class EventStream(SessionObserver):
    """The events of every session of this node, appended to one Redis stream."""

    def __init__(
        self,
        url: str,
        *,
        stream: str,
        node: str,
        maxlen: int,
        max_pending: int = 20_000,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.stream = stream
        self.node = node
        self.maxlen = maxlen
        self.max_pending = max_pending
        self._redis = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        self._pending: collections.deque[dict[str, str]] = collections.deque()
        self._participants: dict[ObservedSession, int] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._failing = False
        self.exported = 0
        self.dropped = 0
        if registry is not None:
            registry.register(_Counts(self))

    # -- what is exported ------------------------------------------------------------------

    def put(self, type_: str, session_id: str, data: dict[str, Any]) -> None:
        """Queue one event (never waits); past ``max_pending`` it is counted and dropped."""
        if self._closed or len(self._pending) >= self.max_pending:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning(
                    "event stream %s: %d events dropped so far (%d waiting for Redis)",
                    self.stream,
                    self.dropped,
                    len(self._pending),
                )
            return
        entry = {
            "type": type_,
            "session_id": session_id,
            "node": self.node,
            "at": f"{time.time():.3f}",
            "data": json.dumps(data, separators=(",", ":"), default=str),
        }
        self._pending.append(entry)
        if len(self._pending) == 1 or len(self._pending) >= BATCH:
            self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="event stream")

    def conversation(self, write: Write) -> None:
        """One write of the store's recorder (``Recorder(tap=...)``): the conversation's events."""
        ref = write.ref
        if isinstance(write, PutItem):
            item = write.item
            fields = {"id": item.item_id, "type": item.type, "role": item.role, "text": item.text}
            self.put("conversation.item", ref.id, _ref(ref, item={**fields, "data": item.data}))
        elif isinstance(write, DeleteItem):
            self.put("conversation.item.deleted", ref.id, _ref(ref, item_id=write.item_id))
        elif isinstance(write, PutSummary):
            self.put("conversation.summary", ref.id, _ref(ref, text=write.text))
        elif isinstance(write, EndConversation):
            self.put("conversation.ended", ref.id, _ref(ref))

    def session_opened(self, session: ObservedSession) -> None:
        """``session.opened``."""
        self._participants[session] = 0
        self.put("session.opened", session.id, {})

    def session_closed(self, session: ObservedSession) -> None:
        """``session.closed``."""
        self._participants.pop(session, None)
        self.put("session.closed", session.id, {})

    def joined(self, session: ObservedSession, participant: Participant) -> None:
        """``participant.joined``."""
        count = self._participants[session] = self._participants.get(session, 0) + 1
        self.put("participant.joined", session.id, {"participants": count})

    def left(self, session: ObservedSession, participant: Participant) -> None:
        """``participant.left``."""
        count = self._participants[session] = max(self._participants.get(session, 1) - 1, 0)
        self.put("participant.left", session.id, {"participants": count})

    def response(self, session: ObservedSession, metrics: TurnMetrics) -> None:
        """``response.metrics``: its ``voxgate.metrics`` (the event's fields, but ``type``)."""
        data = {k: v for k, v in metrics.to_event().items() if k not in ("type", "event_id")}
        self.put("response.metrics", session.id, data)

    def tool(self, session: ObservedSession, call: ToolTiming) -> None:
        """``tool``."""
        duration_ms = round(max(call.ended_at - call.started_at, 0.0) * 1000, 1)
        data = {"name": call.name, "call_id": call.call_id, "status": call.status}
        self.put("tool", session.id, {**data, "duration_ms": duration_ms})

    def error(self, session: ObservedSession, code: str) -> None:
        """``error``."""
        self.put("error", session.id, {"code": code})

    def turn(self, session: ObservedSession, trace: TurnTrace) -> None:
        """``turn``."""
        data = {
            "item_id": trace.item_id,
            "responses": [r.metrics.response_id for r in trace.responses],
            "tools": [t.name for t in trace.tools],
            "duration_ms": round((trace.ended_at - trace.started_at) * 1000, 1),
        }
        self.put("turn", session.id, data)

    # -- writing ---------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Events waiting for Redis."""
        return len(self._pending)

    async def flush(self, timeout: float) -> bool:
        """Wait until every queued event is in Redis; False if ``timeout`` came first."""
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline:
            self._wake.set()
            await asyncio.sleep(0.02)
        return not self._pending

    async def close(self) -> None:
        """Write what is queued (for a few seconds at most), then stop."""
        if self._pending and self._task is not None:
            await self.flush(CLOSE_FLUSH_S)
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pending:
            log.warning("event stream %s: %d events not exported", self.stream, self.pending)
        await self._redis.aclose()

    async def _run(self) -> None:
        delay = RETRY_FIRST_S
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            batch = [self._pending[i] for i in range(min(BATCH, len(self._pending)))]
            try:
                await self._write(batch)
            except (RedisError, OSError) as exc:
                if not self._failing:
                    log.warning(
                        "event stream %s: Redis unreachable (%s); retrying", self.stream, exc
                    )
                self._failing = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            if self._failing:
                log.info("event stream %s: Redis reachable again", self.stream)
            self._failing = False
            delay = RETRY_FIRST_S
            for _ in batch:
                self._pending.popleft()
            self.exported += len(batch)

    async def _write(self, batch: list[dict[str, str]]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for entry in batch:
                pipe.xadd(self.stream, entry, maxlen=self.maxlen, approximate=True)  # type: ignore[arg-type]
            await pipe.execute()


class _Counts(Collector):
    """The stream's figures on ``/metrics``, read when scraped."""

    def __init__(self, stream: EventStream) -> None:
        self._stream = stream

    def collect(self) -> Iterator[Metric]:
        stream = self._stream
        yield CounterMetricFamily(
            "voxgate_events_exported", "Events added to the event stream.", value=stream.exported
        )
        yield CounterMetricFamily(
            "voxgate_events_dropped",
            "Events not exported: the buffer was full while Redis was away.",
            value=stream.dropped,
        )
        yield GaugeMetricFamily(
            "voxgate_events_pending", "Events waiting for the stream's Redis.", value=stream.pending
        )


def event_stream(
    settings: ClusterSettings, node: str, registry: CollectorRegistry | None = None
) -> EventStream | None:
    """The node's event stream if ``events_url`` is set, else None."""
    if not settings.events_url:
        return None
    return EventStream(
        settings.events_url,
        stream=settings.events_stream,
        node=node,
        maxlen=settings.events_maxlen,
        registry=registry,
    )


def _ref(ref: ConversationRef, **data: Any) -> dict[str, Any]:
    """``data`` with the conversation it belongs to."""
    who = {
        "conversation_id": ref.id,
        "user_id": ref.user_id,
        "agent": ref.agent,
        "transport": ref.transport,
    }
    return {**who, **data}
