"""What a session is made with, what follows it, and how it ends: for the layers above.

The server gives a session its engine (``EngineFactory``), its agent (``SessionAgent``, the
agents' runtime) and its recorder (``SessionRecorder``, the store's); the session only sees
events through them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from voxgate.engines import Engine
from voxgate.protocol import Event

if TYPE_CHECKING:
    from voxgate.session.session import Session

ENDED = "voxgate.session.ended"
"""The last event of a session whose engine ended: ``code`` and ``reason`` say why."""
ENDED_CLOSE_CODE = 1013
"""WebSocket close code for it ("try again later"): a new connection gets a fresh session."""

EngineFactory = Callable[[Event | None], Engine]
"""Makes a session's engine, given the session configuration it starts with (or defaults)."""


class SessionAgent(Protocol):
    """The agent side of a session (``voxgate.agents.AgentRuntime``): it sees only events."""

    def opening_events(self) -> list[Event]:
        """Client events the engine gets first, before any participant's."""
        ...

    def observe(self, ev: Event) -> None:
        """One engine event, after the participants got it."""
        ...

    @property
    def idle(self) -> bool:
        """Whether the agent owes the conversation nothing: no call running, no reply to ask."""
        ...

    async def close(self) -> None:
        """The session ends: stop all work."""
        ...


AgentFactory = Callable[["Session"], SessionAgent]


class SessionRecorder(Protocol):
    """What follows a session without taking part (the store's recorder): it never waits."""

    async def opening_events(self) -> list[Event]:
        """Client events the engine gets after the agent's, before any participant's.

        (A stored conversation's items, for a session that resumes it.)
        """
        ...

    def observe(self, ev: Event) -> None:
        """One event of the session: the engine's, or voxgate's own (``broadcast``)."""
        ...

    def summary_source(self) -> str | None:
        """The conversation as text for its summary; None: no summary (no user turn)."""
        ...

    def summarized(self, text: str) -> None:
        """The summary the engine made at the session's end."""
        ...

    async def close(self) -> None:
        """The session ended."""
        ...


RecorderFactory = Callable[["Session"], SessionRecorder]
