"""A session's observer: it sees every event, restores a conversation first, and gets a
summary the engine makes out of band when the session ends."""

from __future__ import annotations

import asyncio

from tests.session.test_session import CommitEngine, Recorder
from voxgate.agents.testing import ScriptedEngine, say
from voxgate.protocol import Event, event
from voxgate.session import Session, summary


class Observer:
    def __init__(self, opening: list[Event] | None = None, source: str | None = "User: Hi") -> None:
        self.opening = opening or []
        self.source = source
        self.seen: list[Event] = []
        self.summary: str | None = None
        self.closed = False

    async def opening_events(self) -> list[Event]:
        return self.opening

    def observe(self, ev: Event) -> None:
        self.seen.append(ev)

    def summary_source(self) -> str | None:
        return self.source

    def summarized(self, text: str) -> None:
        self.summary = text

    async def close(self) -> None:
        self.closed = True


def restored(text: str) -> Event:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return {"type": "conversation.item.create", "item": {"id": "item_old", **item}}


async def test_the_observer_restores_first_and_sees_engine_and_voxgate_events():
    engine = ScriptedEngine([say("Hello again.")])
    observer = Observer([restored("My name is Sarah.")], source=None)
    session = Session("s", lambda _: engine, observer=lambda _: observer)
    client = Recorder()
    session.join(client)
    await session.start()
    await session.send({"type": "response.create"})
    await client.until("response.done")
    session.broadcast(event("voxgate.handoff", **{"from": "a", "to": "b"}))
    assert engine.received[0]["type"] == "conversation.item.create"
    assert engine.items[0]["id"] == "item_old"
    added = next(ev for ev in client.events if ev["type"] == "conversation.item.added")
    assert added["item"]["id"] == "item_old"  # the client sees the restored conversation
    types = [ev["type"] for ev in observer.seen]
    assert "response.done" in types and types[-1] == "voxgate.handoff"
    await session.close()
    assert observer.closed and observer.summary is None  # nothing said: no summary asked
    assert [ev["type"] for ev in engine.received] == ["conversation.item.create", "response.create"]


async def test_the_end_asks_the_engine_for_a_summary_out_of_band():
    engine = ScriptedEngine([say("Hi."), say("Sarah said hi.")])
    observer = Observer()
    session = Session("s", lambda _: engine, observer=lambda _: observer)
    client = Recorder()
    session.join(client)
    await session.start()
    await session.send({"type": "response.create"})
    await client.until("response.done")
    before = len(client.events)
    items = list(engine.items)
    await session.close()
    assert observer.summary == "Sarah said hi."
    request = engine.received[-1]["response"]
    assert request["conversation"] == "none" and request["output_modalities"] == ["text"]
    assert "User: Hi" in request["input"][0]["content"][0]["text"]
    assert engine.items == items  # the conversation is as it was
    assert len(client.events) == before  # participants do not see it
    assert observer.seen[-1]["type"] == "response.done"  # nor does the observer
    assert observer.closed


async def test_an_engine_that_does_not_answer_delays_the_end_only_so_long(monkeypatch):
    monkeypatch.setattr(summary, "TIMEOUT_S", 0.2)
    engine = CommitEngine()  # never answers a response.create
    observer = Observer()
    session = Session("s", lambda _: engine, observer=lambda _: observer)
    await session.start()
    await asyncio.wait_for(session.close(), 5)
    assert observer.summary is None and observer.closed


async def test_a_failed_summary_is_none():
    engine = ScriptedEngine([])  # out of script: the response fails
    observer = Observer()
    session = Session("s", lambda _: engine, observer=lambda _: observer)
    await session.start()
    await asyncio.wait_for(session.close(), 5)
    assert engine.received[-1]["response"]["conversation"] == "none"
    assert observer.summary is None and observer.closed
