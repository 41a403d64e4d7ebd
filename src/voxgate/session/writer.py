"""One writer per client: a bounded queue that sheds deltas, never final events."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable

from voxgate.protocol import Event

log = logging.getLogger(__name__)


def is_droppable(ev: Event) -> bool:
    """Deltas (audio frames, partial text) may be shed for a slow client; nothing else."""
    return str(ev["type"]).endswith(".delta")


class EventWriter:
    """Delivers a session's events to one client in order, from a single task.

    ``offer`` never blocks the session: a client that falls ``max_pending`` events behind
    loses deltas (counted in ``dropped``) until it catches up.
    """

    def __init__(self, deliver: Callable[[Event], Awaitable[None]], *, max_pending: int) -> None:
        self._deliver = deliver
        self._max_pending = max_pending
        self._queue: collections.deque[Event] = collections.deque()
        self._ready = asyncio.Event()
        self._closed = False
        self.dropped = 0

    def offer(self, ev: Event) -> None:
        """Queue ``ev`` for delivery (or shed it, if a delta and the client is behind)."""
        if self._closed:
            return
        if len(self._queue) >= self._max_pending and is_droppable(ev):
            self.dropped += 1
            return
        self._queue.append(ev)
        self._ready.set()

    async def run(self) -> None:
        """Deliver until ``close()``; a failed delivery ends the writer."""
        while not self._closed:
            await self._ready.wait()
            self._ready.clear()
            while self._queue and not self._closed:
                await self._deliver(self._queue.popleft())

    def close(self) -> None:
        """Stop delivering; pending events are discarded."""
        self._closed = True
        self._queue.clear()
        self._ready.set()
