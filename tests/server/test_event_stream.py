"""The analytics / audit stream: a real server's sessions, read back from a real Redis stream."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
import redis.asyncio as aredis

from tests.conftest import serve_app
from tests.server.cluster.conftest import REDIS, RedisServer, prefix, redis_or_skip  # noqa: F401
from tests.server.wire import loopback_settings
from voxgate.client import VoiceClient
from voxgate.server.app import create_app

pytestmark = pytest.mark.e2e


@pytest.fixture
def stream(prefix: str) -> str:  # noqa: F811
    """A stream name of the test's own, deleted with its prefix's keys afterwards."""
    return f"{prefix}:events"


async def read(url: str, stream: str) -> list[dict[str, Any]]:
    """Every entry of ``stream``, its ``data`` decoded."""
    client = aredis.from_url(url, decode_responses=True)
    try:
        entries = await client.xrange(stream)
    finally:
        await client.aclose()
    return [{**fields, "data": json.loads(fields["data"])} for _, fields in entries]


async def until_closed(url: str, stream: str, session_id: str) -> list[dict[str, Any]]:
    """The stream's entries once the session's close and its conversation's end are in it."""
    last = {"session.closed", "conversation.ended"}
    for _ in range(200):
        entries = await read(url, stream)
        if last <= {e["type"] for e in entries if e["session_id"] == session_id}:
            return entries
        await asyncio.sleep(0.05)
    raise AssertionError(f"no session.closed for {session_id}: {[e['type'] for e in entries]}")


async def typed_turn(port: int, session_id: str, text: str) -> None:
    async with VoiceClient(f"ws://127.0.0.1:{port}/ws/{session_id}") as client:
        await client.send_json({"type": "text", "text": text})
        await client.wait_for("response.done", timeout=20)


async def test_a_session_is_exported_in_order_with_its_conversation(stream):
    settings = loopback_settings(events_url=REDIS, events_stream=stream, node_id="node-a")
    session_id = uuid.uuid4().hex
    async with serve_app(create_app(settings)) as port:
        await typed_turn(port, session_id, "Where is my luggage?")
        entries = await until_closed(REDIS, stream, session_id)
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    mine = [e for e in entries if e["session_id"] == session_id]
    assert {e["node"] for e in mine} == {"node-a"}
    types = [e["type"] for e in mine]
    # (the loopback engine reports a response's figures as the session ends)
    assert types[:3] == ["session.opened", "participant.joined", "conversation.item"]
    assert types.index("response.metrics") < types.index("turn")
    assert sorted(types[-2:]) == ["conversation.ended", "session.closed"]
    assert [e["data"]["participants"] for e in mine if e["type"].startswith("participant.")] == [
        1,
        0,
    ]
    items = [e["data"] for e in mine if e["type"] == "conversation.item"]
    assert all(i["conversation_id"] == session_id and i["transport"] == "ws" for i in items)
    said = [(i["item"]["role"], i["item"]["text"]) for i in items]
    assert ("user", "Where is my luggage?") in said
    assert any(role == "assistant" and "luggage" in text for role, text in said)
    (report,) = [e["data"] for e in mine if e["type"] == "response.metrics"]
    assert report["status"] == "completed" and report["response_id"].startswith("resp")
    timestamps = [float(e["at"]) for e in mine]
    assert timestamps == sorted(timestamps)
    exported = [line for line in metrics.splitlines() if line.startswith("voxgate_events_")]
    assert "voxgate_events_dropped_total 0.0" in exported
    assert any(line.startswith("voxgate_events_exported_total") for line in exported)


async def test_events_wait_for_a_redis_that_is_away_and_none_are_lost():
    redis_or_skip()
    redis_server = RedisServer()  # not started yet: the stream's Redis is away
    settings = loopback_settings(events_url=redis_server.url, events_stream="events")
    session_id = uuid.uuid4().hex
    try:
        app = create_app(settings)
        async with serve_app(app) as port:
            await typed_turn(port, session_id, "Hello while Redis is away.")  # not held up
            async with httpx.AsyncClient() as http:
                health = await http.get(f"http://127.0.0.1:{port}/healthz")
            assert health.status_code == 200
            events = app.state.gateway.events
            for _ in range(100):
                if any(e["type"] == "session.closed" for e in events._pending):
                    break
                await asyncio.sleep(0.05)
            assert events.exported == 0 and events.pending >= 8
            redis_server.start()
            entries = await until_closed(redis_server.url, "events", session_id)
            assert events.dropped == 0
        types = [e["type"] for e in entries]
        assert types[0] == "session.opened" and "session.closed" in types[-2:]
        assert types.count("conversation.item") >= 2
    finally:
        redis_server.stop()
