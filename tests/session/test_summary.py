"""A session's recorder: it sees every event, restores a conversation first, and gets a
summary the engine makes out of band when the session ends."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.conftest import serve_app
from tests.session.test_session import CommitEngine, Recorder
from voxgate.agents.testing import ScriptedEngine, say
from voxgate.client import VoiceClient
from voxgate.protocol import Event, event
from voxgate.server.app import create_app
from voxgate.server.gateway import Gateway
from voxgate.session import Session, summary
from voxgate.settings import Settings
from voxgate.store import Conversations, Database, database_url


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
    session = Session("s", lambda _: engine, recorder=lambda _: observer)
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
    session = Session("s", lambda _: engine, recorder=lambda _: observer)
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
    session = Session("s", lambda _: engine, recorder=lambda _: observer)
    await session.start()
    await asyncio.wait_for(session.close(), 5)
    assert observer.summary is None and observer.closed


async def test_a_failed_summary_is_none():
    engine = ScriptedEngine([])  # out of script: the response fails
    observer = Observer()
    session = Session("s", lambda _: engine, recorder=lambda _: observer)
    await session.start()
    await asyncio.wait_for(session.close(), 5)
    assert engine.received[-1]["response"]["conversation"] == "none"
    assert observer.summary is None and observer.closed


@pytest.mark.e2e
async def test_offline_the_summary_is_stored_and_a_restart_resumes(models, tmp_path):
    """The local engine summarizes with SmolLM2; a new server's session gets the history."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, agents="none", data_dir=tmp_path, summaries=True
    )
    session_id = "sarah_" + uuid.uuid4().hex[:8]

    async def converse(text: str) -> list[Event]:
        app = create_app(settings, models=models)
        async with serve_app(app) as port:
            async with VoiceClient(f"ws://127.0.0.1:{port}/ws/{session_id}") as client:
                await client.send_json({"type": "text", "text": text})
                await client.wait_for("response.done", timeout=120)
            gateway: Gateway = app.state.gateway
            async with asyncio.timeout(120):  # the session ends, summarized, once the client left
                while gateway.recorder.live(session_id) is not None:
                    await asyncio.sleep(0.1)
            return [ev for _, ev in client.received.events]

    await converse("My name is Sarah.")
    events = await converse("What is my name?")
    added = [ev["item"] for ev in events if ev["type"] == "conversation.item.added"]
    assert added[0]["content"][0]["text"] == "My name is Sarah."
    assert added[1]["role"] == "assistant" and added[1]["content"][0]["text"]
    done = "response.output_audio_transcript.done"
    reply = next(ev for ev in events if ev["type"] == done)["transcript"]
    print(f"\nresumed reply: {reply!r}")  # SmolLM2 reads the restored turns: "...Sarah..."
    database = await Database.open(database_url(None, tmp_path))
    try:
        stored = await Conversations(database).get(session_id)
    finally:
        await database.close()
    assert stored is not None
    types = [i.type for i in stored.items]
    assert types.count("summary") == 1 and types[-1] == "summary"
    print(f"summary: {stored.items[-1].text!r}")
    assert stored.items[-1].text
    assert [i.text for i in stored.items if i.role == "user"] == [
        "My name is Sarah.",
        "What is my name?",
    ]
