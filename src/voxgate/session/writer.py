"""One writer per client: a bounded queue that sheds deltas, caps errors, gives up when slow.

No client can make the server hold its events without bound: a client that stops reading is
disconnected with a reason instead.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable

from voxgate.protocol import Event, new_id

log = logging.getLogger(__name__)

MAX_PENDING_ERRORS = 32
"""``error`` events queued at once; more are dropped (a client sending garbage while not
reading grew 505,000 of them)."""


def is_droppable(ev: Event) -> bool:
    """Deltas (audio frames, partial text) may be shed for a slow client; nothing else."""
    return str(ev["type"]).endswith(".delta")


class EventWriter:
    """Delivers a session's events to one client in order, from a single task.

    ``offer`` never blocks the session. A client ``max_pending`` events behind loses deltas
    (counted in ``dropped``); ``error`` events past ``MAX_PENDING_ERRORS`` queued are dropped
    too. A client ``max_queued`` events behind, or one whose delivery takes longer than
    ``send_timeout_s``, is given up on: ``run`` returns with ``failure`` saying why, the queue
    is released, and the transport closes the connection with that reason.

    ``merge(a, b)``, if given, may make one delivery of two queued events (``b`` right after
    ``a``): a transport's binary audio frames, say.

    The send timeout is kept by a watchdog that looks every quarter of it (a delivery is given
    up on after 1 to 1.25 times the timeout), not a timer per event: ``asyncio.timeout`` costs
    ~3.6 us an event, and a relayed reply is 25 events a second per client.
    """

    def __init__(
        self,
        deliver: Callable[[Event], Awaitable[None]],
        *,
        max_pending: int,
        max_queued: int | None = None,
        send_timeout_s: float | None = None,
        merge: Callable[[Event, Event], Event | None] | None = None,
    ) -> None:
        self._deliver = deliver
        self._merge = merge
        self._max_pending = max_pending
        self._max_queued = max_queued if max_queued is not None else 16 * max_pending
        self._send_timeout_s = send_timeout_s
        self._queue: collections.deque[Event] = collections.deque()
        self._errors = 0
        self._ready = asyncio.Event()
        self._delivered = asyncio.Event()
        self._delivered.set()
        self._closed = False
        self._sending_since: float | None = None  # when the delivery under way began
        self._timed_out = False
        self._watchdog: asyncio.TimerHandle | None = None
        self.dropped = 0
        self.participant_id = new_id("participant")
        """The client's id in logs (``observability.logs``)."""
        self.failure: str | None = None
        """Why the writer gave up on its client (None while it keeps up)."""

    @property
    def pending(self) -> int:
        """Events waiting for delivery."""
        return len(self._queue)

    def offer(self, ev: Event) -> None:
        """Queue ``ev`` for delivery, shed it, or give up on a client too far behind."""
        if self._closed:
            return
        queued = len(self._queue)
        error = ev["type"] == "error"
        if (queued >= self._max_pending and is_droppable(ev)) or (
            error and self._errors >= MAX_PENDING_ERRORS
        ):
            self.dropped += 1
            return
        if queued >= self._max_queued:
            self._give_up(f"client too slow: {queued} events not yet delivered")
            return
        self._errors += error
        self._queue.append(ev)
        self._delivered.clear()
        self._ready.set()

    async def run(self) -> None:
        """Deliver until ``close()`` or the client is given up on; a failed delivery raises."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        if self._send_timeout_s is not None:
            self._watchdog = loop.call_later(self._send_timeout_s / 4, self._watch, task)
        try:
            while not self._closed:
                await self._ready.wait()
                self._ready.clear()
                while self._queue and not self._closed:
                    ev = self._take()
                    self._sending_since = loop.time()
                    try:
                        await self._deliver(ev)
                    except asyncio.CancelledError:
                        if not self._timed_out or task.uncancel() > 0:
                            raise
                        self._give_up(
                            f"client too slow: an event took over {self._send_timeout_s:g} s "
                            "to send"
                        )
                    finally:
                        self._sending_since = None
                if not self._queue:
                    self._delivered.set()
        finally:
            if self._watchdog is not None:
                self._watchdog.cancel()

    def _take(self) -> Event:
        """The next event, with those ``merge`` joins to it."""
        ev = self._pop()
        while self._merge is not None and self._queue:
            if (merged := self._merge(ev, self._queue[0])) is None:
                break
            ev = merged
            self._pop()
        return ev

    def _pop(self) -> Event:
        ev = self._queue.popleft()
        self._errors -= ev["type"] == "error"
        return ev

    def _watch(self, task: asyncio.Task[None]) -> None:
        """Cancel a delivery that has taken longer than the send timeout; else look again."""
        assert self._send_timeout_s is not None
        loop = asyncio.get_running_loop()
        since = self._sending_since
        if since is not None and loop.time() - since >= self._send_timeout_s:
            self._timed_out = True
            task.cancel()
        elif not self._closed:
            self._watchdog = loop.call_later(self._send_timeout_s / 4, self._watch, task)

    async def delivered(self) -> None:
        """Wait until every event offered so far has been delivered (or the writer closed)."""
        await self._delivered.wait()

    def _give_up(self, reason: str) -> None:
        log.warning("%s (%d events dropped); disconnecting it", reason, self.dropped)
        self.failure = reason
        self.close()

    def close(self) -> None:
        """Stop delivering; pending events are discarded."""
        self._closed = True
        self._queue.clear()
        self._errors = 0
        self._ready.set()
        self._delivered.set()
