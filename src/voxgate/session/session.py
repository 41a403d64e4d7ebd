"""One conversation: its engine (started when the first client joins) and the clients sharing it.

A session ends when its last caller has been gone for the grace period (the registry closes
it) or when its engine's events end on their own (an upstream gone for good): then every
participant gets the engine's last ``error`` and a ``voxgate.session.ended`` (``ENDED``, in
``seams``; its transport closes the connection on it), and the registry forgets the id. Each
client is a ``Participant``; speakers' microphones are mixed into the one input the engine hears.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from voxgate.engines import Engine
from voxgate.observability import SessionObserver, logs
from voxgate.protocol import Event, ProtocolError, error_event, event, text_message
from voxgate.session.delivery import Delivery
from voxgate.session.engine_state import EngineState
from voxgate.session.microphones import Microphones
from voxgate.session.participants import (
    Disconnect,
    Participant,
    Role,
    Roster,
)
from voxgate.session.seams import (
    ENDED,
    AgentFactory,
    EngineFactory,
    RecorderFactory,
)
from voxgate.session.summary import ClosingSummary
from voxgate.session.turns import TurnTracker
from voxgate.session.writer import EventWriter

log = logging.getLogger(__name__)


class Session:
    """Fans engine events out to every participant; participants' input goes to one engine.

    The session follows the event stream to know what the engine is doing (is a response in
    progress, does the server detect turns), so the client shortcuts work for any engine, and
    measures each turn (``TurnTracker``: ``voxgate.metrics``, told to the ``observer``).
    """

    def __init__(
        self,
        session_id: str,
        engine_factory: EngineFactory,
        agent_factory: AgentFactory | None = None,
        *,
        config: Event | None = None,
        on_end: Callable[[Session], None] | None = None,
        observer: SessionObserver | None = None,
        recorder: RecorderFactory | None = None,
        max_participants: int | None = None,
    ) -> None:
        self.id = session_id
        self._engine_factory = engine_factory
        self._config = config
        self._engine: Engine | None = None
        self._pump: asyncio.Task[None] | None = None
        self.microphones = Microphones(self._append_to_engine)
        self.roster = Roster(
            session_id,
            max_participants=max_participants,
            microphones=self.microphones,
            broadcast=self.broadcast,
        )
        """Who is here: ``roster.mute``, ``roster.set_gain``; ``remove`` ends a connection."""
        self.participants: set[EventWriter] = self.roster.writers
        """Every participant's writer (the roster's)."""
        self._sidebands = self.roster.sidebands
        self._delivery = Delivery(session_id, self.roster)
        self._engine_state = EngineState()
        self._starting = asyncio.Lock()
        self._opening: asyncio.Task[None] | None = None
        self._ending: Event | None = None  # the ENDED event, once the engine ended on its own
        self._on_end = on_end
        self._closed = False
        self.ended = asyncio.Event()
        """Set once the session has closed (a sideband of a call leaves then)."""
        self.closed = asyncio.Event()
        """Set once closing is over: the engine stopped, what was said stored (or given up)."""
        self._observer = observer or SessionObserver()  # the base class ignores everything
        self._turns = TurnTracker(self, observer)
        self._observer.session_opened(self)
        self._summary = ClosingSummary(session_id)  # made at the end, with a recorder
        self.agent = agent_factory(self) if agent_factory is not None else None
        self.recorder = recorder(self) if recorder is not None else None
        self._delivery.recorder = self.recorder

    @property
    def started(self) -> bool:
        """Whether the engine runs."""
        return self._engine is not None

    async def start(self) -> None:
        """Start the engine now, not at the first join; ``ProtocolError``: it refused the config."""
        opening = self._opening
        if opening is not None and not opening.done():
            if self._engine is None and not self._starting.locked():
                opening.cancel()  # not begun: start here instead, where a refusal is raised
            else:
                await asyncio.wait([opening])
        if self._engine is None:
            await self._start_engine()

    @property
    def state(self) -> dict[str, Any] | None:
        """The GA ``session`` object as the engine last reported it (None before it started)."""
        return self._engine_state.session

    @property
    def active_response_id(self) -> str | None:
        """The engine's response in progress, if any."""
        return self._engine_state.active_response_id

    @property
    def callers(self) -> set[EventWriter]:
        """The participants that keep the session alive (all but sidebands)."""
        return self.participants - self._sidebands

    def join(
        self,
        writer: EventWriter,
        *,
        sideband: bool = False,
        role: Role | None = None,
        transport: str = "internal",
        disconnect: Disconnect | None = None,
    ) -> Participant:
        """Add a client: ``session.created`` first, then ``voxgate.participant.joined``.

        The first join starts the engine; a late joiner gets a ``session.created`` of the current
        configuration (and, the first back, what a session without callers kept). A
        ``sideband`` (``/v1/realtime?call_id=``) listens and does not keep the call alive.
        ``disconnect`` ends the connection on a removal; ``session_full`` past the limit.
        """
        logs.bind(self.id, writer.participant_id)
        log.info("session %s: client %s joins", self.id, writer.participant_id)
        who = self.roster.add(
            writer, sideband=sideband, role=role, transport=transport, disconnect=disconnect
        )
        self._observer.joined(self, writer)
        if self._ending is not None:  # joined as the engine ended: the client leaves too
            writer.offer(self._ending)
            return who
        if self.state is not None:
            writer.offer(event("session.created", session=self.state))
            self.roster.announce(who)
            if not sideband:
                self._delivery.catch_up(writer)
            return who
        self.roster.hold(who)
        if self._engine is None and self._opening is None and not self._closed:
            with contextlib.suppress(RuntimeError):  # no running loop: start() will
                self._opening = asyncio.get_running_loop().create_task(self._open())
        return who

    def leave(self, writer: EventWriter) -> None:
        """Remove a client (the others are told)."""
        if (who := self.roster.find(writer)) is not None:
            self._depart(who, "left")

    @property
    def members(self) -> dict[str, Participant]:
        """The participants by id, in the order they joined."""
        return self.roster.members

    async def remove(self, participant_id: str) -> Participant | None:
        """Remove a participant (None: none such): it is told, then its connection ends."""
        if (who := self.members.get(participant_id)) is None:
            return None
        self._depart(who, "removed")
        if who.disconnect is not None:
            await who.disconnect("removed from the session")
        else:
            who.writer.close()
        return who

    def _depart(self, who: Participant, reason: str) -> None:
        log.info("session %s: client %s leaves (%s)", self.id, who.id, reason)
        self._observer.left(self, who.writer)
        self.roster.drop(who, reason)
        if not self.callers and self.state is not None and self._ending is None:
            self._delivery.keep()

    async def send(self, ev: Event, participant: Participant | None = None) -> None:
        """One client event to the engine (from ``participant``), starting it on first use.

        Audio goes through the mixer; a commit first sends what it holds, a clear drops it.
        With others here, the engine's ``error`` for this event goes to ``participant`` only.
        """
        type_ = ev["type"]
        if type_ == "input_audio_buffer.append":
            await self.append_audio(ev["audio"], participant)
            return
        if type_ == "input_audio_buffer.commit":
            await self.microphones.flush()
        elif type_ == "input_audio_buffer.clear":
            self.microphones.clear()
        if participant is not None and len(self.members) > 1:
            self.roster.remember_sender(ev, participant)
        await self._to_engine(ev)

    async def _to_engine(self, ev: Event) -> None:
        if self._closed:
            raise _ended()
        engine = self._engine or await self._start_engine()
        await engine.send(ev)

    def broadcast(self, ev: Event) -> None:
        """An event of voxgate's own (``voxgate.*``) to every participant (and the recorder)."""
        self._turns.broadcast(ev)
        self._delivery.to_all(ev)

    def refuse(self, writer: EventWriter, error: Event) -> None:
        """An ``error`` for one participant only (its own bad input), counted like the others."""
        self._turns.refused(error)
        writer.offer(error)

    async def append_audio(self, pcm: bytes, participant: Participant | None = None) -> None:
        """Microphone audio (PCM16 24 kHz) from ``participant`` (not heard: listeners, muted)."""
        if participant is not None and (
            not participant.heard() or participant.id not in self.members
        ):
            return
        if self._closed:
            raise _ended()
        await self.microphones.append(participant.id if participant is not None else "", pcm)

    async def _append_to_engine(self, pcm: bytes) -> None:
        await self._to_engine({"type": "input_audio_buffer.append", "audio": pcm})

    async def say(self, text: str, participant: Participant | None = None) -> None:
        """A typed user turn: stop the agent, add the message, ask for a reply."""
        await self.interrupt(participant)
        await self.send(
            {"type": "conversation.item.create", "item": text_message(text)}, participant
        )
        await self.send({"type": "response.create"}, participant)

    async def commit_audio(self, participant: Participant | None = None) -> None:
        """End the user's turn now; a reply follows once the engine has committed it.

        A refused commit (an empty buffer) is only its ``error``: nothing to answer.
        """
        try:
            await self.send(self._engine_state.commit(), participant)
        except BaseException:
            self._engine_state.commit_refused()
            raise

    async def interrupt(self, participant: Participant | None = None) -> None:
        """Cancel the response in progress, if there is one."""
        if self.active_response_id is not None:
            await self.send({"type": "response.cancel"}, participant)
            self._engine_state.active_response_id = None

    async def close(self) -> None:
        """Stop the engine (with a recorder, after its summary); participants hear nothing more."""
        if self._closed:
            return
        self._closed = True
        self.ended.set()
        try:
            await self._close()
        finally:
            self.closed.set()

    async def _close(self) -> None:
        self._turns.close()
        self._observer.session_closed(self)
        self.microphones.close()
        self._delivery.stop_keeping()
        if self._opening is not None and self._opening is not asyncio.current_task():
            self._opening.cancel()
        if self.agent is not None:
            await self.agent.close()
        engine, self._engine = self._engine, None
        if engine is not None:
            pump, recorder = self._pump, self.recorder  # the summary is read from engine events
            if recorder and pump and not pump.done() and pump is not asyncio.current_task():
                await self._summary.make(engine, recorder, cancel=bool(self.active_response_id))
            await engine.close()
        if self._pump is not None and self._pump is not asyncio.current_task():
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self.recorder is not None:
            try:
                await self.recorder.close()
            except Exception:
                log.exception("session %s: closing the recorder failed", self.id)

    async def _open(self) -> None:
        """Start the engine for the first participant; a refusal is told to the participants."""
        try:
            await self._start_engine()
        except ProtocolError as exc:  # the engine refused the session's configuration
            self.broadcast(exc.to_event())
        except Exception:
            log.exception("session %s: the engine did not start", self.id)
            self.broadcast(
                error_event("the engine did not start", code="engine_failed", type_="server_error")
            )

    async def _start_engine(self) -> Engine:
        async with self._starting:  # the agent's opening events go first
            if self._closed:
                raise _ended()
            if self._engine is None:
                engine = self._engine_factory(self._config)
                pump = asyncio.create_task(
                    self._fan_out(engine),
                    name=f"session {self.id}",
                    context=logs.session_context(self.id),  # its log lines: no client's id
                )
                try:
                    for ev in self.agent.opening_events() if self.agent is not None else []:
                        await engine.send(ev)
                    restored = await self.recorder.opening_events() if self.recorder else []
                    for ev in restored:
                        await engine.send(ev)
                    if self._closed:  # while the agent's events went in
                        raise _ended()
                except BaseException:
                    pump.cancel()
                    await engine.close()
                    raise
                self._pump, self._engine = pump, engine
            return self._engine

    async def _fan_out(self, engine: Engine) -> None:
        try:
            async for ev in engine.events():
                if self._summary.reply is not None:  # the session is closing: only its summary
                    self._summary.reply.observe(ev)
                    continue
                respond = self._engine_state.observe(ev)
                for out in self._turns.observe(ev):  # voxgate.metrics: the session's own
                    self._delivery.deliver(out)
                if ev["type"] == "session.created":
                    self.roster.announce_held()
                if self.agent is not None:
                    try:
                        self.agent.observe(ev)
                    except Exception:
                        log.exception("session %s: the agent failed on %s", self.id, ev["type"])
                if respond:
                    await engine.send({"type": "response.create"})
        except Exception:
            log.exception("session %s: the engine failed", self.id)
            self._engine_state.last_error = None
        if self._summary.reply is not None:
            self._summary.reply.ended()
        if not self._closed:  # the engine ended on its own: so does the session
            await self._end()

    async def end(self, code: str, reason: str) -> None:
        """End the session now (a usage limit, an admin).

        Every participant gets an ``error`` (``code``, ``reason``), then ``ENDED``.
        """
        if self._closed:
            return
        ev = error_event(reason, code=code, type_="invalid_request_error")
        self.broadcast(ev)
        self._engine_state.last_error = ev
        await self._end()

    async def _end(self) -> None:
        """Tell every participant why the session ends, forget it, and close it."""
        last = (self._engine_state.last_error or {}).get("error")
        if last is None:
            last = error_event(
                "the session's engine stopped", code="engine_stopped", type_="server_error"
            )["error"]
            self.broadcast(event("error", error=last))
        log.warning("session %s ends: %s", self.id, last.get("message"))
        self._ending = event(
            ENDED, session_id=self.id, code=last.get("code"), reason=last.get("message")
        )
        self.broadcast(self._ending)
        if self._on_end is not None:
            self._on_end(self)
        await self.close()


def _ended() -> ProtocolError:
    return ProtocolError(
        "this session has ended; connect again for a new one", code="session_ended"
    )
