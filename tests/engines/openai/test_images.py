"""Engine ``openai`` and images: the ``input_image`` part goes up as the client sent it."""

from __future__ import annotations

import asyncio

from tests.conftest import serve_app
from tests.engines.openai.engine_upstream import EngineUpstream
from tests.engines.openai.test_connect import settings, until
from tests.images import create_image, data_url, png
from tests.server.wire import loopback_settings
from voxgate.agents.testing import Reply, ScriptedEngine
from voxgate.engines.openai import OpenAIEngine
from voxgate.engines.openai.webrtc import open_webrtc_upstream
from voxgate.images import image_info
from voxgate.protocol import Event
from voxgate.server.app import create_app

URL = data_url(png(4, 4))


def describe(items: list[dict]) -> Reply:
    """A model that sees: it tells the image it was given."""
    part = [p for i in items for p in i.get("content", []) if p["type"] == "input_image"][-1]
    return Reply(text=f"I see {image_info(part['image_url'])} at {part['detail']} detail.")


async def test_the_image_part_reaches_the_upstream_unchanged_and_is_replayed():
    upstreams: list[EngineUpstream] = []

    async def connect() -> EngineUpstream:
        upstreams.append(EngineUpstream(ScriptedEngine([describe, describe])))
        return upstreams[-1]

    engine = OpenAIEngine(settings(), connect=connect)
    events, seen = engine.events(), []
    try:
        await until(events, "session.created", seen)
        create = create_image(URL, "What is this?", event_id="evt_image")
        create["item"]["content"][1]["detail"] = "low"
        await engine.send(create)
        await engine.send({"type": "response.create"})
        done = await until(events, "response.done", seen)
        first = upstreams[0].engine
        assert isinstance(first, ScriptedEngine)
        [received] = [ev for ev in first.received if ev["type"] == "conversation.item.create"]
        assert received == create  # as the client sent it: the event id, the part, its detail
        said = done["response"]["output"][0]["content"][0]["text"]
        assert said == f"I see {image_info(URL)} at low detail."
        added = next(ev for ev in seen if ev["type"] == "conversation.item.added")
        assert added["item"]["content"][1]["image_url"] == URL  # the client's echo has it too

        await first.close()  # the connection drops: the next one is given the image again
        async with asyncio.timeout(10):
            while engine.reconnects == 0 or len(upstreams[-1].engine.items) < 2:  # type: ignore[attr-defined]
                await asyncio.sleep(0.01)
        second = upstreams[-1].engine
        assert isinstance(second, ScriptedEngine)
        assert second.items[0]["content"] == [
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": URL, "detail": "low"},
        ]
        await engine.send({"type": "response.create"})
        done = await until(events, "response.done", seen)
        assert done["response"]["status"] == "completed"
    finally:
        await engine.close()


async def next_of(upstream, type_: str) -> Event:
    async with asyncio.timeout(10):
        while (ev := await upstream.recv())["type"] != type_:
            pass
    return ev


async def test_over_webrtc_an_image_crosses_the_data_channel_or_is_refused_as_too_large():
    app = create_app(loopback_settings())
    async with serve_app(app) as port:
        up = settings().model_copy(update={"openai_base_url": f"http://127.0.0.1:{port}/v1"})
        upstream = await open_webrtc_upstream(up)
        try:
            await upstream.send(create_image(URL, "Small enough."))
            added = await next_of(upstream, "conversation.item.added")
            assert added["item"]["content"][1]["image_url"] == URL
            # the upstream's SDP says its largest message (aiortc's 256 KiB)
            big = data_url(png() + b"\0" * 300_000)
            await upstream.send(create_image(big, event_id="evt_big"))
            error = await next_of(upstream, "error")
            assert error["error"]["code"] == "event_too_large"
            assert error["error"]["event_id"] == "evt_big"
            await upstream.send({"type": "response.create"})  # the call goes on
            await next_of(upstream, "response.done")
        finally:
            await upstream.close()
