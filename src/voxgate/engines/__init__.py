"""The model side of a session: OpenAI Realtime client events in, server events out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol

from voxgate.protocol import Event, ProtocolError


class Engine(Protocol):
    """One conversation with a speech model; it never learns which transport carries it.

    Audio fields carry raw PCM16 bytes (see ``voxgate.protocol``). A refused client event
    yields an ``error`` server event; the engine goes on.
    """

    async def send(self, event: Event) -> None:
        """Hand the engine one client event."""
        ...

    def events(self) -> AsyncIterator[Event]:
        """Server events, in order, until the engine closes."""
        ...

    async def close(self) -> None:
        """Stop all work; ``events()`` ends."""
        ...


def dispatch(handlers: object, ev: Event, put: Callable[[Event], None], unsupported: str) -> None:
    """Call ``handlers._on_<type>(ev)``; a refusal becomes an ``error`` event passed to ``put``.

    A type without a handler is refused with the message ``unsupported``.
    """
    handler = getattr(handlers, "_on_" + ev["type"].replace(".", "_"), None)
    try:
        if handler is None:
            raise ProtocolError(unsupported, code="unsupported_event", param="type")
        handler(ev)
    except ProtocolError as exc:
        exc.event_id = exc.event_id or ev.get("event_id")
        put(exc.to_event())
