"""The events seam of engine ``openai``: frames decoded at the wire, any ``Engine`` as upstream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import websockets

from tests.engines.openai.engine_upstream import EngineUpstream
from voxgate.agents.testing import ScriptedEngine, say
from voxgate.engines.openai import OpenAIEngine
from voxgate.engines.openai.connect import (
    SDKUpstream,
    UpstreamClosed,
    decode,
    encode,
    open_upstream,
)
from voxgate.protocol import Event, to_wire
from voxgate.settings import Settings


def settings() -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, engine="openai", openai_api_key="sk-x", openai_model="gpt-realtime"
    )


async def until(events: AsyncIterator[Event], type_: str, seen: list[Event]) -> Event:
    """The next event of ``type_`` (everything on the way is kept in ``seen``)."""
    async with asyncio.timeout(10):
        async for ev in events:
            seen.append(ev)
            if ev["type"] == type_:
                return ev
    raise AssertionError(f"the engine ended before a {type_}")


def user(text: str) -> Event:
    content = [{"type": "input_text", "text": text}]
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": content},
    }


def texts(items: list[dict]) -> list[str]:
    return [part.get("text", "") for item in items for part in item.get("content", [])]


def test_a_wire_frame_is_an_event_with_its_audio_as_bytes():
    delta = '{"type": "response.output_audio.delta", "delta": "AQID"}'
    assert decode(delta) == {"type": "response.output_audio.delta", "delta": b"\1\2\3"}
    assert decode(b'{"type": "session.updated", "session": {}}') == {
        "type": "session.updated",
        "session": {},
    }
    assert decode("not json") is None
    assert decode('["not", "an", "event"]') is None
    assert decode('{"type": "response.output_audio.delta", "delta": "%%%"}') is None


async def test_a_dropped_in_process_upstream_is_reconnected_with_the_conversation():
    upstreams: list[EngineUpstream] = []

    async def connect() -> EngineUpstream:
        upstreams.append(EngineUpstream(ScriptedEngine([say("Paris, of course.")])))
        return upstreams[-1]

    engine = OpenAIEngine(settings(), connect=connect)
    events, seen = engine.events(), []
    try:
        await until(events, "session.created", seen)
        await engine.send(user("What is the capital of France?"))
        await engine.send({"type": "response.create"})
        done = await until(events, "response.done", seen)
        assert done["response"]["status"] == "completed"
        metrics = await until(events, "voxgate.metrics", seen)
        assert metrics["response_id"] == done["response"]["id"]
        assert metrics["model"] == "gpt-realtime" and metrics["usage"]["total_tokens"] == 0
        first = upstreams[0].engine
        assert isinstance(first, ScriptedEngine)
        held = [dict(item) for item in first.items]
        await first.close()  # the connection drops
        async with asyncio.timeout(10):
            while engine.reconnects == 0 or len(upstreams[-1].engine.items) < 2:  # type: ignore[attr-defined]
                await asyncio.sleep(0.01)
        second = upstreams[-1].engine
        assert isinstance(second, ScriptedEngine)
        assert [i["id"] for i in second.items] == [i["id"] for i in held]
        assert texts(second.items) == ["What is the capital of France?", "Paris, of course."]
        await engine.send({"type": "response.create"})  # the conversation goes on there
        done = await until(events, "response.done", seen)
        assert done["response"]["status"] == "completed"
        assert [ev["type"] for ev in seen].count("session.created") == 1
    finally:
        await engine.close()


async def test_a_session_update_the_upstream_refuses_is_not_sent_again_after_a_reconnect():
    upstreams: list[EngineUpstream] = []

    async def connect() -> EngineUpstream:
        upstreams.append(EngineUpstream(ScriptedEngine()))
        return upstreams[-1]

    engine = OpenAIEngine(settings(), connect=connect)
    events, seen = engine.events(), []
    try:
        await until(events, "session.created", seen)
        refused = {"type": "realtime", "instructions": "Refused.", "max_output_tokens": -1}
        await engine.send({"type": "session.update", "session": refused})
        error = await until(events, "error", seen)
        assert error["error"]["param"] == "session.max_output_tokens"
        taken = {"type": "realtime", "instructions": "Taken."}
        await engine.send({"type": "session.update", "session": taken})
        await until(events, "session.updated", seen)
        await upstreams[0].engine.close()  # the connection drops
        async with asyncio.timeout(10):
            while engine.reconnects == 0 or len(upstreams) < 2:
                await asyncio.sleep(0.01)
            second = upstreams[-1].engine
            assert isinstance(second, ScriptedEngine)
            while not any(ev["type"] == "session.update" for ev in second.received):
                await asyncio.sleep(0.01)
        assert second.session["instructions"] == "Taken."
        assert "error" not in [ev["type"] for ev in seen[seen.index(error) + 1 :]]
    finally:
        await engine.close()


def test_an_append_is_encoded_as_the_json_the_sdk_would_send() -> None:
    pcm = bytes(range(256)) * 4
    append = {"type": "input_audio_buffer.append", "audio": pcm}
    assert json.loads(encode(append)) == to_wire(append)
    tagged = {**append, "event_id": "event_1"}
    assert json.loads(encode(tagged)) == to_wire(tagged)
    other = {"type": "response.create", "response": {"instructions": 'say "hi"'}}
    assert json.loads(encode(other)) == other


def _settings(port: int) -> Settings:
    """Engine ``openai`` pointed at an upstream on ``port``."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        engine="openai",
        openai_api_key="sk-x",
        openai_base_url=f"http://127.0.0.1:{port}/v1",
    )


async def test_frames_go_over_the_sdks_websocket_itself() -> None:
    got: list[str] = []

    async def upstream(ws) -> None:
        await ws.send(json.dumps({"type": "session.created", "event_id": "e1", "session": {}}))
        got.append(await ws.recv())

    async with websockets.serve(upstream, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        connection = await open_upstream(_settings(port))
        assert isinstance(connection, SDKUpstream) and connection.websocket is not None
        assert (await connection.recv())["type"] == "session.created"
        await connection.send({"type": "input_audio_buffer.append", "audio": b"\x01\x02"})
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.02)
        await connection.close()
    assert json.loads(got[0]) == {"type": "input_audio_buffer.append", "audio": "AQI="}


async def test_the_upstream_websocket_is_not_compressed_when_the_server_offers_it() -> None:
    offered: list[str | None] = []

    async def upstream(ws) -> None:
        offered.append(ws.request.headers.get("Sec-WebSocket-Extensions"))
        await ws.send(json.dumps({"type": "session.created", "event_id": "e1", "session": {}}))
        await ws.wait_closed()

    # websockets' server takes permessage-deflate whenever a client asks for it
    async with websockets.serve(upstream, "127.0.0.1", 0, compression="deflate") as server:
        port = server.sockets[0].getsockname()[1]
        connection = await open_upstream(_settings(port))
        assert (await connection.recv())["type"] == "session.created"
        assert isinstance(connection, SDKUpstream) and connection.websocket is not None
        assert connection.websocket.response is not None
        assert "Sec-WebSocket-Extensions" not in connection.websocket.response.headers
        await connection.close()
    assert offered == [None]


async def test_an_append_to_an_upstream_that_hung_up_raises_upstream_closed() -> None:
    async def upstream(ws) -> None:
        await ws.send(json.dumps({"type": "session.created", "event_id": "e1", "session": {}}))
        await ws.close()

    async with websockets.serve(upstream, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        connection = await open_upstream(_settings(port))
        assert isinstance(connection, SDKUpstream) and connection.websocket is not None
        assert (await connection.recv())["type"] == "session.created"
        await connection.websocket.wait_closed()
        with pytest.raises(UpstreamClosed):
            await connection.send({"type": "input_audio_buffer.append", "audio": b"\x01\x02"})
