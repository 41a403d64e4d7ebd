"""Where a session's events go: its participants, the backlog kept while none is here, the recorder.

An event goes to every participant, or to the one participant it addresses (the roster knows:
the ``error`` for one participant's own event). While the session has no caller (in its grace
period) what the callers would have got is kept, for the first one back. Everything, addressed
or not, is told to the recorder, which never waits.
"""

from __future__ import annotations

import collections
import logging

from voxgate.protocol import Event
from voxgate.session.participants import Roster
from voxgate.session.seams import SessionRecorder
from voxgate.session.writer import EventWriter

log = logging.getLogger(__name__)

BACKLOG_EVENTS = 512
"""Events kept while a session has no caller, for the first one back (audio deltas are not:
their transcripts are); older ones go first."""


class Delivery:
    """The session's events out to its participants, its backlog and its recorder."""

    def __init__(self, session_id: str, roster: Roster) -> None:
        self._session_id = session_id
        self._roster = roster
        self.recorder: SessionRecorder | None = None
        self._backlog: collections.deque[Event] | None = None  # while no caller is here

    def to_all(self, ev: Event) -> None:
        """``ev`` to every participant (kept while none is here), and to the recorder."""
        for writer in list(self._roster.writers):
            writer.offer(ev)
        if self._backlog is not None and ev["type"] != "response.output_audio.delta":
            self._backlog.append(ev)
        self.record(ev)

    def deliver(self, ev: Event) -> None:
        """An engine's event: to the participant it addresses, else to all of them."""
        addressee = self._roster.addressee(ev)
        if addressee is None:
            self.to_all(ev)
            return
        who, addressed = addressee
        if who.id in self._roster.members:
            who.writer.offer(addressed)
        self.record(ev)

    def record(self, ev: Event) -> None:
        """``ev`` to the recorder, if any; its failure is logged, never raised."""
        if self.recorder is not None:
            try:
                self.recorder.observe(ev)
            except Exception:
                log.exception("session %s: the recorder failed on %s", self._session_id, ev["type"])

    def keep(self) -> None:
        """The last caller left: keep what callers would get, for the first one back."""
        self._backlog = collections.deque(maxlen=BACKLOG_EVENTS)

    def stop_keeping(self) -> None:
        """Keep nothing more (the session closes)."""
        self._backlog = None

    def catch_up(self, writer: EventWriter) -> None:
        """A caller is back: it gets what was kept, and nothing is kept any longer."""
        backlog, self._backlog = self._backlog, None
        for ev in backlog or ():
            writer.offer(ev)
