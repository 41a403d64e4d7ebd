"""The model side of a session: OpenAI Realtime client events in, server events out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from voxgate.protocol import Event


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
