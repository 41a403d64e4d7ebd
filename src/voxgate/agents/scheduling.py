"""When the runtime may ask for a response: who holds the floor, and what the runtime owes.

Two small state machines, both fed by the engine's events:

- ``Floor``: who is speaking. A ``response.create`` sent while the model responds is refused
  (``conversation_already_has_active_response``), and one sent while the user speaks talks
  over them.
- ``Pending``: the response the runtime owes after tool outputs or narration, from owed to
  requested to started (or refused, and owed again when the refusal was only "busy").

``ResponseScheduler.request()`` hands out a ``response.create`` only when one is owed and
the floor is free; the runtime calls it again whenever something that blocked it ends.
"""

from __future__ import annotations

from enum import Enum

from voxgate.protocol import Event, new_id

BUSY = "conversation_already_has_active_response"


class Floor(Enum):
    """Who is speaking, as far as starting a response goes."""

    FREE = "free"
    """Nobody: a response may start."""
    USER = "user"
    """The user speaks (``input_audio_buffer.speech_started`` until ``speech_stopped``)."""
    MODEL = "model"
    """A response runs (``response.created`` until its ``response.done``): ours or another's."""
    BOTH = "both"
    """The user speaks over a response that has not ended yet."""

    def speech_started(self) -> Floor:
        return {Floor.FREE: Floor.USER, Floor.MODEL: Floor.BOTH}.get(self, self)

    def speech_stopped(self) -> Floor:
        return {Floor.USER: Floor.FREE, Floor.BOTH: Floor.MODEL}.get(self, self)

    def response_started(self) -> Floor:
        return {Floor.FREE: Floor.MODEL, Floor.USER: Floor.BOTH}.get(self, self)

    def response_ended(self) -> Floor:
        return {Floor.MODEL: Floor.FREE, Floor.BOTH: Floor.USER}.get(self, self)


class Pending(Enum):
    """The response the runtime owes the conversation."""

    NONE = "none"
    """Nothing is owed."""
    OWED = "owed"
    """Outputs or narration went in: a response is owed once the floor is free."""
    REQUESTED = "requested"
    """Our ``response.create`` is out: until ``response.created``, or an ``error`` for it."""
    REQUESTED_AGAIN = "requested_again"
    """Requested, and more was owed since: another response follows this one."""
    CLOSED = "closed"
    """The session ended: nothing more is asked."""

    def owe(self) -> Pending:
        return {
            Pending.NONE: Pending.OWED,
            Pending.REQUESTED: Pending.REQUESTED_AGAIN,
        }.get(self, self)

    def requested(self) -> Pending:
        return Pending.REQUESTED if self is Pending.OWED else self

    def started(self) -> Pending:
        """A response started (ours, or one that answers what we owed just as well)."""
        return {
            Pending.REQUESTED: Pending.NONE,
            Pending.REQUESTED_AGAIN: Pending.OWED,
        }.get(self, self)

    def refused(self, *, busy: bool) -> Pending:
        """Our ``response.create`` was refused; "busy" means: try again when the floor frees.

        A busy refusal may come after another's ``response.created`` was taken for ours
        (``NONE``): ours is owed still.
        """
        if self is Pending.CLOSED:
            return self
        if busy or self is Pending.REQUESTED_AGAIN:
            return Pending.OWED
        return Pending.NONE if self is Pending.REQUESTED else self


class ResponseScheduler:
    """Follows the floor and what is owed; says when a ``response.create`` may go."""

    def __init__(self) -> None:
        self.floor = Floor.FREE
        self.pending = Pending.NONE
        self.response_id: str | None = None
        """The response running now, if any."""
        self._request_event_id: str | None = None

    @property
    def settled(self) -> bool:
        """Nothing owed or requested, and no response running."""
        return self.pending in (Pending.NONE, Pending.CLOSED) and self.response_id is None

    @property
    def may_respond(self) -> bool:
        """The floor is free and no request of ours is out (narration may go in now)."""
        return self.floor is Floor.FREE and self.pending in (Pending.NONE, Pending.OWED)

    def observe(self, ev: Event) -> None:
        """Follow one engine event."""
        type_ = ev["type"]
        if type_ == "input_audio_buffer.speech_started":
            self.floor = self.floor.speech_started()
        elif type_ == "input_audio_buffer.speech_stopped":
            self.floor = self.floor.speech_stopped()
        elif type_ == "response.created":
            self.response_id = ev["response"]["id"]
            self.floor = self.floor.response_started()
            self.pending = self.pending.started()
        elif type_ == "response.done" and ev["response"]["id"] == self.response_id:
            self.response_id = None
            self.floor = self.floor.response_ended()
        elif type_ == "error":
            error = ev.get("error") or {}
            if self._request_event_id and error.get("event_id") == self._request_event_id:
                self._request_event_id = None
                self.pending = self.pending.refused(busy=error.get("code") == BUSY)

    def owe(self) -> None:
        """A response is owed (outputs or narration went into the conversation)."""
        self.pending = self.pending.owe()

    def request(self) -> Event | None:
        """The ``response.create`` to send now, if one is owed and the floor is free."""
        if self.pending is not Pending.OWED or self.floor is not Floor.FREE:
            return None
        self.pending = self.pending.requested()
        self._request_event_id = new_id("event")
        return {"type": "response.create", "event_id": self._request_event_id}

    def close(self) -> None:
        """Ask for nothing more."""
        self.pending = Pending.CLOSED
