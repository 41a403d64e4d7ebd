"""What a session tells its observers (metrics, traces): a few calls per turn, none per frame.

``SessionObserver`` does nothing; Prometheus (``prometheus.py``) and OpenTelemetry
(``tracing.py``) override what they need, and ``Observers`` passes each call to several.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from voxgate.observability.turn import ToolTiming, TurnMetrics, TurnTrace

log = logging.getLogger(__name__)


class ObservedSession(Protocol):
    """The session an observer is told about, by object: its id may be reused while it closes."""

    @property
    def id(self) -> str:
        """The session id."""
        ...


class Participant(Protocol):
    """What an observer reads of a session's client (``session.EventWriter``), when scraped."""

    @property
    def pending(self) -> int:
        """Events waiting for delivery."""
        ...

    @property
    def dropped(self) -> int:
        """Events (deltas, surplus errors) shed for this client so far."""
        ...


class SessionObserver:
    """Told of sessions, clients, responses, tools, errors and whole turns; ignores them all."""

    def session_opened(self, session: ObservedSession) -> None:
        """A session was created."""

    def session_closed(self, session: ObservedSession) -> None:
        """A session closed (its remaining participants count as gone)."""

    def joined(self, session: ObservedSession, participant: Participant) -> None:
        """A client joined a session."""

    def left(self, session: ObservedSession, participant: Participant) -> None:
        """A client left a session."""

    def response(self, session: ObservedSession, metrics: TurnMetrics) -> None:
        """A response's figures, as they go out in ``voxgate.metrics``."""

    def tool(self, session: ObservedSession, call: ToolTiming) -> None:
        """A tool call finished."""

    def error(self, session: ObservedSession, code: str) -> None:
        """An ``error`` event went to a session's clients."""

    def turn(self, session: ObservedSession, trace: TurnTrace) -> None:
        """A user turn is over (the next one began, or the session closed)."""


class Observers(SessionObserver):
    """Several observers as one; one that raises is logged and the others still hear."""

    def __init__(self, observers: Iterable[SessionObserver]) -> None:
        self.observers = list(observers)

    def session_opened(self, session: ObservedSession) -> None:
        """Pass it on."""
        for o in self.observers:
            self._safely(o.session_opened, session)

    def session_closed(self, session: ObservedSession) -> None:
        """Pass it on."""
        for o in self.observers:
            self._safely(o.session_closed, session)

    def joined(self, session: ObservedSession, participant: Participant) -> None:
        """Pass it on."""
        for o in self.observers:
            self._safely(o.joined, session, participant)

    def left(self, session: ObservedSession, participant: Participant) -> None:
        """Pass it on."""
        for o in self.observers:
            self._safely(o.left, session, participant)

    def response(self, session: ObservedSession, metrics: TurnMetrics) -> None:
        """Pass it on."""
        for o in self.observers:
            self._safely(o.response, session, metrics)

    def tool(self, session: ObservedSession, call: ToolTiming) -> None:
        """Pass it on."""
        for o in self.observers:
            self._safely(o.tool, session, call)

    def error(self, session: ObservedSession, code: str) -> None:
        """Pass it on."""
        for o in self.observers:
            self._safely(o.error, session, code)

    def turn(self, session: ObservedSession, trace: TurnTrace) -> None:
        """Pass it on."""
        for o in self.observers:
            self._safely(o.turn, session, trace)

    @staticmethod
    def _safely(call: Callable[..., None], *args: object) -> None:
        try:
            call(*args)
        except Exception:
            log.exception("an observer failed")
