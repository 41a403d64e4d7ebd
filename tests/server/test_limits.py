"""Usage limits per key, rate limits per key and per client address."""

from __future__ import annotations

import pytest
import websockets

from tests.server.wire import API_KEY, OPEN, bearer, loopback_settings, serve, ws_answer
from voxgate.server import limits
from voxgate.server.auth import APIError
from voxgate.server.limits import SessionLimit, SlidingWindow


def test_a_key_gets_its_sessions_per_window_then_a_429_saying_when():
    now = [1000.0]
    limit = SessionLimit(2, window_s=3600, clock=lambda: now[0])
    limit.take("sk-a")
    now[0] += 10
    limit.take("sk-a")
    with pytest.raises(APIError) as refused:
        limit.take("sk-a")
    assert refused.value.status == 429
    assert refused.value.code == "rate_limit_exceeded"
    assert "3590 s" in str(refused.value)
    limit.take("sk-b")  # another key has its own count
    now[0] += 3591  # the first session left the window
    limit.take("sk-a")
    with pytest.raises(APIError):
        limit.take("sk-a")


def test_zero_means_no_limit():
    limit = SessionLimit(0)
    for _ in range(100):
        limit.take("sk-a")


def test_sliding_window_refuses_past_the_limit_and_says_when_to_retry():
    now = [0.0]
    window = SlidingWindow(3, 60.0, clock=lambda: now[0])
    for t in (0.0, 10.0, 20.0):
        now[0] = t
        assert window.take("a") == 0.0
    now[0] = 30.0
    assert window.take("a") == pytest.approx(30.0)  # the first leaves the window at 60 s
    assert window.take("b") == 0.0  # another caller has its own
    now[0] = 60.0
    assert window.take("a") == 0.0
    assert window.take("a") == pytest.approx(10.0)  # the refusal at 30 s was not counted


def test_sliding_window_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(limits, "MAX_CALLERS", 100)
    now = [0.0]
    window = SlidingWindow(1, 1.0, clock=lambda: now[0])
    for i in range(1000):
        now[0] += 0.01
        window.take(f"caller-{i}")
    assert len(window) <= 100


@pytest.mark.e2e
async def test_per_address_limits_answer_429_with_retry_after():
    settings = loopback_settings(
        offers_per_minute=2, client_secrets_per_minute=2, rate_limit_exempt_addresses=[]
    )
    async with serve(settings) as server, server.client() as http:
        offer = {"sdp": "v=0", "type": "offer"}
        for _ in "ab":
            assert (await http.post("/api/webrtc/offer", json=offer)).status_code == 400
        r = await http.post("/api/webrtc/offer", json=offer)
        assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 60
        assert "2 WebRTC offers per 60 s per client address" in r.json()["error"]["message"]
        r = await http.post(
            "/v1/realtime/calls", content="v=0", headers={"Content-Type": "application/sdp"}
        )
        assert r.status_code == 429
        body = {"session": {"type": "realtime"}}
        for _ in "ab":
            assert (await http.post("/v1/realtime/client_secrets", json=body)).status_code == 200
        r = await http.post("/v1/realtime/client_secrets", json=body)
        assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
        assert "Retry-After" in r.headers


@pytest.mark.e2e
async def test_new_sessions_per_address_a_refused_socket_closes_1008_with_the_reason():
    settings = loopback_settings(sessions_per_minute=2, rate_limit_exempt_addresses=[])
    async with (
        serve(settings) as server,
        websockets.connect(f"{server.ws}/ws/sess_one") as one,
        websockets.connect(f"{server.ws}/ws/sess_two") as two,
    ):
        for holder in (one, two):
            await holder.send("not json")
            await holder.recv()
        code, reason = await ws_answer(f"{server.ws}/ws/sess_three")
        assert code == 1008 and "rate limit: 2 new sessions" in reason
        assert await ws_answer(f"{server.ws}/ws/sess_two") == OPEN  # joining is not new
        assert await ws_answer(f"{server.ws}/v1/realtime?model=m") == 429
        async with server.client() as http:
            offer = {"sdp": "v=0", "type": "offer", "session_id": "sess_four"}
            r = await http.post("/api/webrtc/offer", json=offer)
            assert r.status_code == 429 and "new sessions" in r.json()["error"]["message"]


@pytest.mark.e2e
async def test_per_key_limits_apply_on_loopback_too():
    settings = loopback_settings(
        api_keys=[API_KEY, "sk-second"], client_secrets_per_minute=1, rate_limit_key_factor=2
    )
    async with serve(settings) as server, server.client() as http:
        body = {"session": {"type": "realtime"}}
        statuses = [
            (
                await http.post("/v1/realtime/client_secrets", json=body, headers=bearer(API_KEY))
            ).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
        r = await http.post("/v1/realtime/client_secrets", json=body, headers=bearer("sk-second"))
        assert r.status_code == 200
