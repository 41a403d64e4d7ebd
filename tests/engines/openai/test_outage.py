"""Engine ``openai`` with its upstream down past the retries: the session ends, cleanly.

The upstream is in-process (``EngineUpstream`` around the scripted engine), reached through a
stand-in for ``open_upstream`` that refuses while the upstream is "down".
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from tests.conftest import serve_app
from tests.engines.openai.engine_upstream import EngineUpstream
from voxgate.agents.testing import ScriptedEngine, say
from voxgate.client import VoiceClient
from voxgate.engines.openai import engine as openai_engine
from voxgate.server.app import create_app
from voxgate.session import ENDED, ENDED_CLOSE_CODE
from voxgate.settings import Settings

pytestmark = pytest.mark.e2e


async def live_sessions(port: int) -> int:
    async with httpx.AsyncClient() as http:
        return int((await http.get(f"http://127.0.0.1:{port}/healthz")).json()["sessions"])


async def test_an_upstream_down_past_the_retries_ends_the_session_and_frees_its_id(monkeypatch):
    upstream = {"up": False, "connects": 0}

    async def open_upstream(settings: Settings, *, call_id: str | None = None) -> EngineUpstream:
        upstream["connects"] += 1
        if not upstream["up"]:
            raise ConnectionError("connection refused")
        return EngineUpstream(ScriptedEngine([say("I am back.")]))

    monkeypatch.setattr(openai_engine, "open_upstream", open_upstream)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        engine="openai",
        openai_api_key="sk-x",
        openai_model="gpt-realtime",
        agents="none",
        openai_reconnect_attempts=1,
    )
    async with serve_app(create_app(settings)) as port:
        url = f"ws://127.0.0.1:{port}/ws/call-1"
        received = []
        async with websockets.connect(url) as ws:
            try:
                async with asyncio.timeout(20):  # a zombie session would never close it
                    async for message in ws:
                        received.append(json.loads(message))
            except websockets.ConnectionClosed:
                pass
            assert ws.close_code == ENDED_CLOSE_CODE
            assert ws.close_reason == "upstream_unavailable"
        assert [ev["type"] for ev in received] == ["error", ENDED]
        assert received[0]["error"]["code"] == "upstream_unavailable"
        assert received[1]["code"] == "upstream_unavailable"
        assert upstream["connects"] == 2  # the first try and one retry
        assert await live_sessions(port) == 0
        # the upstream is back: a client joining the same id gets a fresh, working session
        upstream["up"] = True
        async with VoiceClient(url) as client:
            await client.wait_for("session.created", timeout=10)
            assert client.received.types()[0] == "session.created"
            assert await live_sessions(port) == 1
            await client.send_json({"type": "text", "text": "Are you there?"})
            _, done = await client.wait_for("response.done", timeout=10)
            assert done["response"]["status"] == "completed"
