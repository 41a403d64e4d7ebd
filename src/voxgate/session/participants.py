"""Who is in a session: each client's id, role, transport and mute, and the events about them.

A participant is one connection (a ``/ws`` socket, a WebRTC peer, a ``/v1/realtime``
connection or its sideband). Its ``role`` is chosen when it joins: a ``speaker``'s microphone
is mixed into what the engine hears; a ``listener`` hears the agent and sees the events, and
its audio is ignored (it is told so once). ``voxgate.participant.joined|left|updated`` tell
every participant of the others (GA-only transports drop them, as all ``voxgate.*`` events).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, get_args

from voxgate.protocol import Event, ProtocolError, event, new_id
from voxgate.session.microphones import Microphones
from voxgate.session.writer import EventWriter

Role = Literal["speaker", "listener"]
ROLES: tuple[str, ...] = get_args(Role)

JOINED = "voxgate.participant.joined"
LEFT = "voxgate.participant.left"
UPDATED = "voxgate.participant.updated"

REMOVED_CLOSE_CODE = 4000
"""WebSocket close code for a participant removed through the API (do not reconnect)."""

Disconnect = Callable[[str], Awaitable[None]]
"""How a transport ends its client's connection, given the reason (a removal)."""
MAX_SENDERS = 256
"""Client events remembered by ``event_id``, so the engine's ``error`` reaches their sender."""


def parse_role(value: str | None) -> Role:
    """A role chosen at join (None: ``speaker``); a ``ProtocolError`` names the choices."""
    if value is None or value == "speaker":
        return "speaker"
    if value == "listener":
        return "listener"
    raise ProtocolError(
        f"unknown role {value!r}: use 'speaker' (heard by the agent) or 'listener' (hears only)",
        code="invalid_role",
        param="role",
    )


@dataclass(eq=False)
class Participant:
    """One client in a session."""

    writer: EventWriter
    role: Role = "speaker"
    transport: str = "internal"
    """``websocket`` (``/ws``), ``webrtc``, ``realtime`` (``/v1/realtime``), or ``internal``
    (the server's own: the browser-direct listener, tests)."""
    sideband: bool = False
    disconnect: Disconnect | None = None
    id: str = field(default_factory=lambda: new_id("part"))
    muted: bool = False
    gain: float = 1.0
    speaking: bool = False
    joined_at: int = field(default_factory=lambda: int(time.time()))
    told_listener: bool = False
    """Whether it was told that its audio is ignored (once, not per frame)."""

    def heard(self) -> bool:
        """Whether its audio reaches the mixer: not a listener's (told so once), not muted."""
        if self.role == "listener":
            if not self.told_listener:
                self.told_listener = True
                self.writer.offer(listener_audio_error())
            return False
        return not self.muted

    def describe(self, level: float = 0.0) -> Event:
        """The participant as events and the API show it."""
        return {
            "id": self.id,
            "role": self.role,
            "transport": self.transport,
            "sideband": self.sideband,
            "muted": self.muted,
            "gain": self.gain,
            "speaking": self.speaking,
            "level": round(level, 3),
            "joined_at": self.joined_at,
        }


def listener_audio_error() -> Event:
    """The one ``error`` a listener gets for sending audio."""
    return ProtocolError(
        "this participant joined as a listener: its audio is not heard by the agent "
        "(join with role 'speaker' to be heard)",
        code="listener_audio_ignored",
    ).to_event()


def session_full(session_id: str, limit: int) -> ProtocolError:
    """The refusal of a join past ``max_participants``."""
    return ProtocolError(
        f"session {session_id!r} is full: it has {limit} participants, the most allowed "
        "(VOXGATE_MAX_PARTICIPANTS); try again when one leaves",
        code="session_full",
    )


def joined_event(who: Event, everyone: list[Event], *, you: bool = False) -> Event:
    """``voxgate.participant.joined``: who joined and everyone now in the session.

    The newcomer's own copy says ``you``.
    """
    ev = event(JOINED, participant=who, participants=everyone)
    if you:
        ev["you"] = True
    return ev


def left_event(who: Event, everyone: list[Event], reason: str) -> Event:
    """``voxgate.participant.left``: who left, why (``left`` or ``removed``), who remains."""
    return event(LEFT, participant=who, participants=everyone, reason=reason)


def updated_event(who: Event) -> Event:
    """``voxgate.participant.updated``: muted, gain or speaking changed."""
    return event(UPDATED, participant=who)


class Roster:
    """The participants of one session: who is here, and what they are told of each other.

    It also remembers which participant sent which client event (by ``event_id``), so the
    engine's ``error`` answering it reaches that participant only.
    """

    def __init__(
        self,
        session_id: str,
        *,
        max_participants: int | None,
        microphones: Microphones,
        broadcast: Callable[[Event], None],
    ) -> None:
        self._session_id = session_id
        self._max = max_participants
        self._microphones = microphones
        self._mixer = microphones.mixer
        self._broadcast = broadcast
        microphones.mixer.on_speaking = self._on_speaking
        self.members: dict[str, Participant] = {}
        """The participants by id, in the order they joined."""
        self.writers: set[EventWriter] = set()
        self.sidebands: set[EventWriter] = set()
        self._by_writer: dict[EventWriter, Participant] = {}
        self._unannounced: list[Participant] = []  # joined before session.created went out
        self._senders: collections.OrderedDict[str, tuple[Participant, bool]] = (
            collections.OrderedDict()
        )

    def add(
        self,
        writer: EventWriter,
        *,
        sideband: bool,
        role: Role | None,
        transport: str,
        disconnect: Disconnect | None,
    ) -> Participant:
        """A new participant; ``session_full`` past the limit. A sideband listens by default."""
        if self._max is not None and self.full:
            raise session_full(self._session_id, self._max)
        if role is None:
            role = "listener" if sideband else "speaker"
        who = Participant(writer, role, transport, sideband, disconnect, id=writer.participant_id)
        self.members[who.id] = who
        self._by_writer[writer] = who
        self.writers.add(writer)
        if sideband:
            self.sidebands.add(writer)
        self._mixer.measure = len(self.members) > 1  # levels matter once others can see them
        return who

    @property
    def full(self) -> bool:
        """Whether ``add`` would be refused."""
        return self._max is not None and len(self.members) >= self._max

    def find(self, writer: EventWriter) -> Participant | None:
        """The participant that ``writer`` delivers to."""
        return self._by_writer.get(writer)

    def drop(self, who: Participant, reason: str) -> None:
        """``who`` is no longer here (``reason``: ``left`` or ``removed``).

        Everyone is told, ``who`` too when removed; its microphone is no longer mixed.
        """
        self._by_writer.pop(who.writer, None)
        self.members.pop(who.id, None)
        self.writers.discard(who.writer)
        self.sidebands.discard(who.writer)
        self._microphones.remove(who.id)
        self._mixer.measure = len(self.members) > 1
        if who in self._unannounced:  # never announced: nobody to tell
            self._unannounced.remove(who)
            return
        left = left_event(self.describe(who), self.describe_all(), reason)
        self._broadcast(left)
        if reason == "removed":
            who.writer.offer(left)

    def mute(self, participant_id: str, muted: bool) -> Participant | None:
        """Mute or unmute a participant's microphone (None: no such participant)."""
        who = self.members.get(participant_id)
        if who is None:
            return None
        if who.muted != muted:
            who.muted = muted
            if muted:
                who.speaking = False
                self._microphones.remove(who.id)  # its queue and its gain
            elif who.gain != 1.0:
                self._mixer.set_gain(who.id, who.gain)
            self._broadcast(updated_event(self.describe(who)))
        return who

    def set_gain(self, participant_id: str, gain: float) -> Participant | None:
        """The gain the mixer gives a participant's microphone (None: no such participant)."""
        who = self.members.get(participant_id)
        if who is None:
            return None
        if who.gain != gain:
            who.gain = gain
            self._mixer.set_gain(who.id, gain)
            self._broadcast(updated_event(self.describe(who)))
        return who

    def _on_speaking(self, participant_id: str, speaking: bool) -> None:
        who = self.members.get(participant_id)
        if who is not None and who.speaking != speaking:
            who.speaking = speaking
            self._broadcast(updated_event(self.describe(who)))

    def describe(self, who: Participant) -> Event:
        """The participant as the API and the events show it."""
        return who.describe(self._mixer.level(who.id))

    def describe_all(self) -> list[Event]:
        """Every participant, in the order they joined."""
        return [self.describe(p) for p in self.members.values()]

    def hold(self, who: Participant) -> None:
        """Announce ``who`` once ``session.created`` has gone out (its first event)."""
        self._unannounced.append(who)

    def announce_held(self) -> None:
        """``session.created`` went out: announce those who joined before it."""
        held, self._unannounced = self._unannounced, []
        for who in held:
            self.announce(who)

    def announce(self, who: Participant) -> None:
        """``voxgate.participant.joined`` to everyone; the newcomer's copy says ``you``."""
        me, everyone = self.describe(who), self.describe_all()
        for other in list(self.members.values()):
            other.writer.offer(joined_event(me, everyone, you=other is who))

    def remember_sender(self, ev: Event, who: Participant) -> None:
        """``who`` sends ``ev``: give it an ``event_id`` if it has none, and remember whose."""
        event_id = ev.get("event_id")
        assigned = not isinstance(event_id, str) or not event_id
        if assigned:
            event_id = ev["event_id"] = new_id("event")
        self._senders[str(event_id)] = (who, assigned)
        while len(self._senders) > MAX_SENDERS:
            self._senders.popitem(last=False)

    def addressee(self, ev: Event) -> tuple[Participant, Event] | None:
        """For an ``error`` answering a remembered event: its sender, and the error for it.

        The error loses an ``event_id`` the sender never sent.
        """
        if ev["type"] != "error" or not self._senders:
            return None
        found = self._senders.pop(str(ev["error"].get("event_id")), None)
        if found is None:
            return None
        who, assigned = found
        if assigned:
            ev = {**ev, "error": {**ev["error"], "event_id": None}}
        return who, ev
