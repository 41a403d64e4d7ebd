"""The Origin allow-list on WebSockets and API routes; OpenAI's /calls takes only SDP bodies."""

from __future__ import annotations

import pytest

from tests.server.wire import API_KEY, OPEN, bearer, loopback_settings, serve, ws_answer
from voxgate.server.origins import OriginPolicy
from voxgate.settings import Settings

EVIL = "http://evil.example"


def test_policy_same_host_localhost_and_the_list():
    policy = OriginPolicy(Settings(_env_file=None).allowed_origins)  # type: ignore[call-arg]
    assert policy.allows("https://voice.example.org", "voice.example.org")
    assert policy.allows("http://voice.example.org:8443", "voice.example.org:8443")
    assert not policy.allows("http://voice.example.org:9999", "voice.example.org:8443")
    assert policy.allows("http://localhost:5173", "voice.example.org")
    assert policy.allows("http://127.0.0.1", "voice.example.org")
    assert policy.allows("https://[::1]:3000", "voice.example.org")
    assert not policy.allows(EVIL, "voice.example.org")
    assert not policy.allows("http://localhost.evil.example", "voice.example.org")
    assert not policy.allows("null", "voice.example.org")
    assert not policy.allows("garbage", "voice.example.org")
    listed = OriginPolicy(["https://app.example"])
    assert listed.allows("https://app.example", "voice.example.org")
    assert not listed.allows("http://app.example", "voice.example.org")
    assert not listed.allows("http://localhost:5173", "voice.example.org")
    assert OriginPolicy(["*"]).allows(EVIL, "voice.example.org")


@pytest.mark.e2e
async def test_a_foreign_origin_is_refused_on_every_socket_and_route():
    async with serve(loopback_settings()) as server:
        evil = {"Origin": EVIL}
        for path in ("/ws/sess_evil", "/v1/realtime?model=m", "/api/runs/worker"):
            code, reason = await ws_answer(server.ws + path, headers=evil)
            assert code == 1008 and "origin 'http://evil.example' is not allowed" in reason
        async with server.client() as http:
            offer = {"sdp": "v=0", "type": "offer"}
            r = await http.post("/api/webrtc/offer", json=offer, headers=evil)
            assert r.status_code == 403 and r.json()["error"]["code"] == "origin_not_allowed"
            body = {"session": {"type": "realtime"}}
            r = await http.post("/v1/realtime/client_secrets", json=body, headers=evil)
            assert r.status_code == 403
            assert (await http.get("/api/client-config", headers=evil)).status_code == 403
            assert (await http.get("/api/runs", headers=evil)).status_code == 403
            for path in ("/", "/static/app.js", "/healthz"):  # the page itself is public
                assert (await http.get(path, headers=evil)).status_code == 200
        # the server's own page, and localhost pages, are let in
        own = {"Origin": server.http}
        assert await ws_answer(f"{server.ws}/ws/sess_own", headers=own) == OPEN
        local = {"Origin": "http://localhost:5173"}
        assert await ws_answer(f"{server.ws}/ws/sess_local", headers=local) == OPEN
        assert await ws_answer(f"{server.ws}/ws/sess_none") == OPEN  # not a browser


@pytest.mark.e2e
async def test_allowed_origins_setting_lets_a_listed_origin_in():
    async with serve(loopback_settings(allowed_origins="https://app.example")) as server:
        listed = {"Origin": "https://app.example"}
        assert await ws_answer(f"{server.ws}/ws/sess_app", headers=listed) == OPEN
        code, _ = await ws_answer(
            f"{server.ws}/ws/sess_local", headers={"Origin": "http://localhost:5173"}
        )
        assert code == 1008


@pytest.mark.e2e
async def test_calls_take_sdp_or_multipart_only_and_a_key_when_keys_are_set():
    async with serve(loopback_settings(api_keys=[API_KEY])) as server, server.client() as http:
        for content_type in ("text/plain", None, "application/json"):
            headers = {**bearer(API_KEY)}
            if content_type:
                headers["Content-Type"] = content_type
            r = await http.post("/v1/realtime/calls", content="v=0", headers=headers)
            assert r.status_code == 415, content_type
            assert "application/sdp" in r.json()["error"]["message"]
        sdp = {"Content-Type": "application/sdp"}
        r = await http.post("/v1/realtime/calls", content="v=0", headers=sdp)
        assert r.status_code == 401
        r = await http.post("/v1/realtime/calls", content="v=0", headers={**sdp, **bearer(API_KEY)})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_sdp"
