"""One conversation: its engine (started lazily) and the clients that share it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from voxgate.engines import Engine
from voxgate.protocol import Event, new_id
from voxgate.session.writer import EventWriter

log = logging.getLogger(__name__)

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

    async def close(self) -> None:
        """The session ends: stop all work."""
        ...


AgentFactory = Callable[["Session"], SessionAgent]


class Session:
    """Fans engine events out to every participant; participants' input goes to one engine.

    The session follows the event stream to know what the engine is doing (is a response in
    progress, does the server detect turns), so the client shortcuts work for any engine.
    """

    def __init__(
        self,
        session_id: str,
        engine_factory: EngineFactory,
        agent_factory: AgentFactory | None = None,
        *,
        config: Event | None = None,
    ) -> None:
        self.id = session_id
        self._engine_factory = engine_factory
        self._config = config
        self._engine: Engine | None = None
        self._pump: asyncio.Task[None] | None = None
        self.participants: set[EventWriter] = set()
        self._sidebands: set[EventWriter] = set()
        self._session_state: dict[str, Any] | None = None
        self.active_response_id: str | None = None
        self._starting = asyncio.Lock()
        self.ended = asyncio.Event()
        """Set once the session has closed (a sideband of a call leaves then)."""
        self.agent = agent_factory(self) if agent_factory is not None else None

    @property
    def started(self) -> bool:
        """Whether the engine runs."""
        return self._engine is not None

    async def start(self) -> None:
        """Start the engine now (it otherwise starts on the first client event)."""
        if self._engine is None:
            await self._start_engine()

    @property
    def callers(self) -> set[EventWriter]:
        """The participants that keep the session alive (all but sidebands)."""
        return self.participants - self._sidebands

    def join(self, writer: EventWriter, *, sideband: bool = False) -> None:
        """Add a client; a late joiner first gets the session's current configuration.

        A ``sideband`` (``/v1/realtime?call_id=``) follows a call; it does not keep it alive.
        """
        self.participants.add(writer)
        if sideband:
            self._sidebands.add(writer)
        if self._session_state is not None:
            writer.offer(
                {
                    "type": "session.created",
                    "event_id": new_id("event"),
                    "session": self._session_state,
                }
            )

    def leave(self, writer: EventWriter) -> None:
        """Remove a client."""
        self.participants.discard(writer)
        self._sidebands.discard(writer)

    async def send(self, ev: Event) -> None:
        """One client event to the engine, starting it on first use."""
        engine = self._engine or await self._start_engine()
        await engine.send(ev)

    def broadcast(self, ev: Event) -> None:
        """An event of voxgate's own (``voxgate.*``) to every participant."""
        for writer in list(self.participants):
            writer.offer(ev)

    async def append_audio(self, pcm: bytes) -> None:
        """Microphone audio (PCM16 24 kHz) from any participant."""
        await self.send({"type": "input_audio_buffer.append", "audio": pcm})

    async def say(self, text: str) -> None:
        """A typed user turn: stop the agent, add the message, ask for a reply."""
        await self.interrupt()
        await self.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": text}],
                },
            }
        )
        await self.send({"type": "response.create"})

    async def commit_audio(self) -> None:
        """End the user's turn now and make sure a reply follows."""
        await self.send({"type": "input_audio_buffer.commit"})
        if not self._server_responds_on_commit():
            await self.send({"type": "response.create"})

    async def interrupt(self) -> None:
        """Cancel the response in progress, if there is one."""
        if self.active_response_id is not None:
            await self.send({"type": "response.cancel"})
            self.active_response_id = None

    async def close(self) -> None:
        """Stop the engine; participants stay connected but hear nothing more."""
        self.ended.set()
        if self.agent is not None:
            await self.agent.close()
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.close()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump

    async def _start_engine(self) -> Engine:
        async with self._starting:  # the agent's opening events go first
            if self._engine is None:
                engine = self._engine_factory(self._config)
                self._pump = asyncio.create_task(self._fan_out(engine), name=f"session {self.id}")
                for ev in self.agent.opening_events() if self.agent is not None else []:
                    await engine.send(ev)
                self._engine = engine
            return self._engine

    async def _fan_out(self, engine: Engine) -> None:
        async for ev in engine.events():
            self._observe(ev)
            for writer in list(self.participants):
                writer.offer(ev)
            if self.agent is not None:
                try:
                    self.agent.observe(ev)
                except Exception:
                    log.exception("session %s: the agent failed on %s", self.id, ev["type"])

    def _observe(self, ev: Event) -> None:
        type_ = ev["type"]
        if type_ in ("session.created", "session.updated"):
            self._session_state = ev["session"]
        elif type_ == "response.created":
            self.active_response_id = ev["response"]["id"]
        elif type_ == "response.done" and self.active_response_id == ev["response"]["id"]:
            self.active_response_id = None

    def _server_responds_on_commit(self) -> bool:
        audio = (self._session_state or {}).get("audio") or {}
        td = (audio.get("input") or {}).get("turn_detection")
        return td is not None and td.get("create_response", True) is not False
