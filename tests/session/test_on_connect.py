"""``session.created`` is the first event on connect, on every transport, before the client
sends anything (loopback engine: no models)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import websockets

from tests.conftest import serve_app
from voxgate.rtc_client import RtcClient
from voxgate.server.app import create_app
from voxgate.settings import Settings

pytestmark = pytest.mark.e2e


@pytest_asyncio.fixture
async def port() -> AsyncIterator[int]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, engine="loopback", agents="none", webrtc_enabled=True
    )
    async with serve_app(create_app(settings)) as port:
        yield port


async def first_event(ws: websockets.ClientConnection) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def next_ga_event(ws: websockets.ClientConnection) -> dict:
    """The next event but voxgate's own (``voxgate.participant.*`` tell of the others)."""
    while (ev := await first_event(ws))["type"].startswith("voxgate."):
        pass
    return ev


async def test_ws_sends_session_created_on_connect(port):
    url = f"ws://127.0.0.1:{port}/ws/{uuid.uuid4().hex}"
    async with websockets.connect(url) as first:
        created = await first_event(first)
        assert created["type"] == "session.created"
        # a second client of the same session gets it too, once, with the same session
        async with websockets.connect(url) as second:
            again = await first_event(second)
            assert again["type"] == "session.created"
            assert again["session"]["id"] == created["session"]["id"]
            await second.send(
                json.dumps({"type": "session.update", "session": {"type": "realtime"}})
            )
            assert (await next_ga_event(second))["type"] == "session.updated"
        assert (await next_ga_event(first))["type"] == "session.updated"


async def test_realtime_sends_session_created_on_connect(port):
    url = f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime"
    headers = {"Authorization": "Bearer sk-any"}
    async with websockets.connect(url, additional_headers=headers) as ws:
        assert (await first_event(ws))["type"] == "session.created"


async def test_the_webrtc_data_channel_opens_with_session_created(port):
    async with RtcClient(f"http://127.0.0.1:{port}") as client:
        await client.wait_for("session.created", timeout=10)
        assert client.heard.types()[0] == "session.created"
    async with RtcClient(f"http://127.0.0.1:{port}", mode="calls") as client:
        await client.wait_for("session.created", timeout=10)
        assert client.heard.types()[0] == "session.created"
