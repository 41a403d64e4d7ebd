"""A session: its engine starts on the first join, a commit is answered only once it holds, and
an engine that ends on its own ends the session (the registry forgets it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from voxgate.agents.testing import ScriptedEngine, say
from voxgate.engines.loopback import LoopbackEngine
from voxgate.protocol import Event, error_event, event
from voxgate.session import ENDED, EventWriter, Session, SessionRegistry

PARTICIPANT = "voxgate.participant."


class Recorder(EventWriter):
    """A participant that keeps what it is offered."""

    def __init__(self) -> None:
        super().__init__(self._keep, max_pending=1000)
        self.events: list[Event] = []

    async def _keep(self, ev: Event) -> None:
        pass

    def offer(self, ev: Event) -> None:
        self.events.append(ev)

    def types(self) -> list[str]:
        """Event types, but the participant events (test_participants.py checks those)."""
        return [ev["type"] for ev in self.events if not ev["type"].startswith(PARTICIPANT)]

    async def until(self, type_: str, timeout: float = 5) -> Event:
        async with asyncio.timeout(timeout):
            while True:
                for ev in self.events:
                    if ev["type"] == type_:
                        return ev
                await asyncio.sleep(0.01)


class CommitEngine:
    """Commits like the local engine without VAD: an empty buffer is refused, else committed."""

    def __init__(self) -> None:
        self.buffered = 0
        self.received: list[Event] = []
        self._out: asyncio.Queue[Event | None] = asyncio.Queue()
        self._out.put_nowait(event("session.created", session={"audio": {"input": {}}}))

    async def send(self, ev: Event) -> None:
        self.received.append(ev)
        if ev["type"] == "input_audio_buffer.append":
            self.buffered += len(ev["audio"])
        elif ev["type"] == "input_audio_buffer.commit":
            if not self.buffered:
                self._out.put_nowait(
                    error_event(
                        "nothing to commit",
                        code="input_audio_buffer_commit_empty",
                        event_id=ev.get("event_id"),
                    )
                )
            else:
                self.buffered = 0
                self._out.put_nowait(event("input_audio_buffer.committed", item_id="item_1"))
        elif ev["type"] == "response.create":
            self._out.put_nowait(event("response.created", response={"id": "resp_1"}))

    async def events(self) -> AsyncIterator[Event]:
        while (ev := await self._out.get()) is not None:
            yield ev

    async def close(self) -> None:
        self._out.put_nowait(None)

    def end(self, last: Event | None = None) -> None:
        """The engine's events end on their own (an upstream gone for good)."""
        if last is not None:
            self._out.put_nowait(last)
        self._out.put_nowait(None)


async def test_commit_audio_on_an_empty_buffer_is_only_the_error():
    engine = CommitEngine()
    session = Session("s", lambda _: engine)
    client = Recorder()
    session.join(client)
    await session.commit_audio()
    await client.until("error")
    await asyncio.sleep(0.1)
    assert client.types() == ["session.created", "error"]
    assert client.events[-1]["error"]["code"] == "input_audio_buffer_commit_empty"
    assert [ev["type"] for ev in engine.received] == ["input_audio_buffer.commit"]
    # with audio in the buffer the shortcut still asks for the reply, after the commit
    await session.append_audio(b"\0\0" * 2400)
    await session.commit_audio()
    await client.until("response.created")
    assert client.types()[-2:] == ["input_audio_buffer.committed", "response.created"]
    assert [ev["type"] for ev in engine.received][-2:] == [
        "input_audio_buffer.commit",
        "response.create",
    ]
    await session.close()


async def test_the_engine_starts_on_the_first_join_and_late_joiners_get_the_state_once():
    starts: list[Event | None] = []

    def factory(config: Event | None) -> LoopbackEngine:
        starts.append(config)
        return LoopbackEngine()

    session = Session("s", factory)
    first = Recorder()
    session.join(first)
    created = await first.until("session.created")
    second = Recorder()
    session.join(second)
    assert second.types() == ["session.created"]
    assert second.events[0]["session"] == created["session"]
    await session.send({"type": "session.update", "session": {"type": "realtime"}})
    await second.until("session.updated")
    await first.until("session.updated")
    assert first.types() == ["session.created", "session.updated"]
    assert second.types() == ["session.created", "session.updated"]
    assert len(starts) == 1
    await session.close()


async def test_an_engine_that_ends_on_its_own_ends_the_session_and_frees_its_id():
    engines: list[CommitEngine] = []

    def factory(config: Event | None) -> CommitEngine:
        engines.append(CommitEngine())
        return engines[-1]

    registry = SessionRegistry(factory)
    session = registry.open("call")
    client = Recorder()
    session.join(client)
    await client.until("session.created")
    engines[0].end(
        error_event(
            "the realtime upstream is unreachable",
            code="upstream_unavailable",
            type_="server_error",
        )
    )
    ended = await client.until(ENDED)
    assert client.types()[-2:] == ["error", ENDED]
    assert ended["code"] == "upstream_unavailable" and ended["reason"]
    assert session.ended.is_set()
    assert len(registry) == 0 and registry.get("call") is None
    await registry.release(session)  # the transport leaves afterwards: nothing to do
    # the same id is a fresh session with a working engine
    again = registry.open("call")
    assert again is not session
    newcomer = Recorder()
    again.join(newcomer)
    await newcomer.until("session.created")
    assert len(engines) == 2 and len(registry) == 1
    await registry.close()


async def test_an_engine_that_ends_without_a_word_still_says_so():
    engine = CommitEngine()
    session = Session("s", lambda _: engine)
    client = Recorder()
    session.join(client)
    await client.until("session.created")
    engine.end()
    ended = await client.until(ENDED)
    assert client.types()[-2:] == ["error", ENDED]
    assert ended["code"] == "engine_stopped"
    late = Recorder()
    session.join(late)  # joined as it ended: told at once, so its transport closes
    assert late.types() == [ENDED]


async def test_the_scripted_session_still_starts_once():
    engine = ScriptedEngine([say("Hi.")])
    session = Session("s", lambda _: engine)
    client = Recorder()
    session.join(client)
    await session.start()
    await session.send({"type": "response.create"})
    await client.until("response.done")
    assert client.types().count("session.created") == 1
    await session.close()
