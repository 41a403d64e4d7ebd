"""One client on a socket: a bounded writer, and a connection that ends when either side does.

A client that stops reading must not keep the server holding its events: its ``EventWriter``
gives up after ``client_queue_limit`` undelivered events or a send slower than
``client_send_timeout_s``, and the connection is then closed with the reason (1008).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import WebSocket

from voxgate.protocol import Event, ProtocolError
from voxgate.session import (
    ENDED,
    ENDED_CLOSE_CODE,
    REMOVED_CLOSE_CODE,
    EventWriter,
    Participant,
    Session,
)
from voxgate.settings import Settings

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 2.0
"""How long a close frame may wait to go out to a client that does not read."""

TOO_SLOW = 1008
"""The close code for a client given up on (policy violation: it did not read its events)."""


def client_writer(
    deliver: Callable[[Event], Awaitable[None]],
    settings: Settings,
    merge: Callable[[Event, Event], Event | None] | None = None,
) -> EventWriter:
    """One client's writer with the server's bounds (``merge``: ``EventWriter``'s)."""
    return EventWriter(
        deliver,
        max_pending=settings.client_queue_size,
        max_queued=settings.client_queue_limit,
        send_timeout_s=settings.client_send_timeout_s,
        merge=merge,
    )


async def drain(writer: EventWriter, timeout: float = CLOSE_TIMEOUT_S) -> None:
    """Wait (``timeout`` at most) until ``writer`` has delivered what it queued.

    So the ``voxgate.participant.left`` of a removal reaches the client before its connection
    closes.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await writer.delivered()


Close = Callable[[int, str], Awaitable[None]]
"""Closes a client's connection with a WebSocket close code and a reason."""


async def join_socket(
    websocket: WebSocket,
    session: Session,
    deliver: Callable[[Event], Awaitable[None]],
    settings: Settings,
    merge: Callable[[Event, Event], Event | None] | None = None,
    **join: Any,
) -> tuple[Participant, Close] | None:
    """A WebSocket client joins ``session`` (``join``: ``Session.join``'s options).

    Its events go to ``deliver`` through a bounded writer (``merge``: ``EventWriter``'s); a
    removal drains them and closes with ``REMOVED_CLOSE_CODE``. None when the session is full:
    the client got the ``error`` and 1008.
    """

    async def close(code: int, reason: str) -> None:
        await websocket.close(code=code, reason=reason[:120])

    async def disconnect(reason: str) -> None:
        await drain(writer)
        await close(REMOVED_CLOSE_CODE, reason)

    writer = client_writer(deliver, settings, merge)
    try:
        return session.join(writer, disconnect=disconnect, **join), close
    except ProtocolError as exc:  # the session is full
        await websocket.send_text(json.dumps(exc.to_event()))
        await close(1008, str(exc))
        return None


async def close_if_ended(websocket: WebSocket, ev: Event) -> None:
    """After the session's ``ENDED`` event the connection closes: a new one gets a new session."""
    if ev["type"] == ENDED:
        await websocket.close(ENDED_CLOSE_CODE, str(ev.get("code") or "session ended"))


async def serve_connection(
    reading: Coroutine[Any, Any, None],
    writer: EventWriter,
    close: Callable[[int, str], Awaitable[None]],
) -> None:
    """Run ``reading`` (the client's messages in) and ``writer`` until either ends.

    A writer that gave up on its client closes the connection with ``TOO_SLOW`` and its reason;
    a writer whose delivery failed (the socket went) just ends it. An error while reading
    propagates once both have stopped.
    """
    read_task = asyncio.create_task(reading)
    write_task = asyncio.create_task(writer.run())
    try:
        await asyncio.wait({read_task, write_task}, return_when=asyncio.FIRST_COMPLETED)
        if writer.failure is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await close(TOO_SLOW, writer.failure)
    finally:
        writer.close()
        read_task.cancel()
        write_task.cancel()
        await asyncio.gather(read_task, write_task, return_exceptions=True)
    if not write_task.cancelled() and (error := write_task.exception()) is not None:
        log.debug("delivery to a client failed: %r", error)
    if not read_task.cancelled() and (error := read_task.exception()) is not None:
        raise error
