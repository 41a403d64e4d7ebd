"""Usage limits per role: checked when a session starts and enforced while it runs."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.server.wire import bearer, loopback_settings, serve
from voxgate.server import usage
from voxgate.settings import UsageLimit

pytestmark = pytest.mark.e2e


async def _events_until_closed(ws: websockets.ClientConnection) -> list[dict]:
    seen: list[dict] = []
    async with asyncio.timeout(20):
        try:
            async for message in ws:
                if isinstance(message, str):
                    seen.append(json.loads(message))
        except websockets.ConnectionClosed:
            pass
    return seen


async def test_a_session_ends_when_the_days_minutes_are_spent(monkeypatch) -> None:
    monkeypatch.setattr(usage, "TICK_S", 0.2)
    monkeypatch.setattr(usage, "NOTICE_S", 0.2)
    limits = {"user": UsageLimit(minutes_per_day=0.02)}  # 1.2 s
    async with serve(loopback_settings(usage_limits=limits)) as server:
        assert server.gateway.users is not None
        _, key = await server.gateway.users.add("lena", "user")
        _, boss = await server.gateway.users.add("boss", "admin")
        url = f"{server.ws}/ws/lena-1"
        async with websockets.connect(url, additional_headers=bearer(key)) as ws:
            seen = await _events_until_closed(ws)
            assert ws.close_code == 1013
        types = [ev["type"] for ev in seen]
        assert types[0] == "session.created"
        reached = next(ev for ev in seen if ev["type"] == "voxgate.usage.limit_reached")
        assert "today's 0.02 minutes of voice are used up" in reached["reason"]
        assert types.index("voxgate.usage.limit_reached") < types.index("voxgate.session.ended")
        ended = next(ev for ev in seen if ev["type"] == "voxgate.session.ended")
        assert ended["code"] == "usage_limit_reached"

        # the next session is refused at once, with what to expect
        async with websockets.connect(
            f"{server.ws}/ws/lena-2", additional_headers=bearer(key)
        ) as ws:
            await _events_until_closed(ws)
            assert ws.close_code == 1008 and "used up" in ws.close_reason
        async with server.client() as http:
            r = await http.post(
                "/v1/realtime/client_secrets",
                json={"session": {"type": "realtime"}},
                headers=bearer(key),
            )
            assert r.status_code == 200  # minting is not a session
            r = await http.post(
                "/api/webrtc/offer", json={"sdp": "v=0", "type": "offer"}, headers=bearer(key)
            )
            assert r.status_code == 429 and r.json()["error"]["code"] == "usage_limit_reached"
        # a role without limits is not held back
        async with websockets.connect(
            f"{server.ws}/ws/boss-1", additional_headers=bearer(boss)
        ) as ws:
            first = json.loads(await ws.recv())
            assert first["type"] == "session.created"
        rows = await server.gateway.history.find("lena-1")
        assert rows is not None


async def test_sessions_at_once_are_limited(monkeypatch) -> None:
    limits = {"user": UsageLimit(concurrent_sessions=1)}
    async with serve(loopback_settings(usage_limits=limits)) as server:
        assert server.gateway.users is not None
        _, key = await server.gateway.users.add("max", "user")
        async with websockets.connect(
            f"{server.ws}/ws/max-1", additional_headers=bearer(key)
        ) as one:
            assert json.loads(await one.recv())["type"] == "session.created"
            async with websockets.connect(
                f"{server.ws}/ws/max-2", additional_headers=bearer(key)
            ) as two:
                await _events_until_closed(two)
                assert two.close_code == 1008 and "at once" in two.close_reason
            # joining one's own live session again is not a new session
            async with websockets.connect(
                f"{server.ws}/ws/max-1", additional_headers=bearer(key)
            ) as again:
                assert json.loads(await again.recv())["type"] == "session.created"
