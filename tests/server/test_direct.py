"""Browser-direct mode: voxgate mints an upstream key; the client talks to the upstream itself."""

from __future__ import annotations

import asyncio
import tempfile

import httpx
import pytest
from openai import AsyncOpenAI
from openai.types.realtime import ClientSecretCreateResponse

from tests.conftest import serve_app, silence
from tests.transports.test_realtime import Conversation
from voxgate.protocol import validate_server_event
from voxgate.rtc_client import RtcClient
from voxgate.server.app import create_app
from voxgate.settings import Settings

pytestmark = pytest.mark.e2e

UPSTREAM_KEY = "sk-upstream-direct"
USER_KEY = "sk-user"


def gateway_settings(upstream_port: int, **extra) -> Settings:
    fields = {
        "engine": "openai",
        "openai_api_key": UPSTREAM_KEY,
        "openai_base_url": f"http://127.0.0.1:{upstream_port}/v1",
        "instructions": "You are the front desk of a small hotel.",
        "api_keys": [USER_KEY],
        **extra,
    }
    return Settings(_env_file=None, **fields)  # type: ignore[call-arg]


async def test_minted_key_reaches_the_upstream_with_the_servers_session(models):
    upstream_settings = Settings(_env_file=None, api_keys=[UPSTREAM_KEY])  # type: ignore[call-arg]
    async with serve_app(create_app(upstream_settings, models=models)) as up:
        gateway = create_app(gateway_settings(up, direct_mode_enabled=True))
        async with serve_app(gateway) as port, httpx.AsyncClient() as http:
            url = f"http://127.0.0.1:{port}/api/realtime/client-secret"
            refused = await http.post(url, headers={"Authorization": "Bearer sk-wrong"})
            assert refused.status_code == 401
            minted = await http.post(url, headers={"Authorization": f"Bearer {USER_KEY}"})
            assert minted.status_code == 200, minted.text
            assert UPSTREAM_KEY not in minted.text  # the provider key never reaches the browser
            secret = ClientSecretCreateResponse.model_validate(minted.json())
            assert secret.value.startswith("ek_")
            assert secret.session.instructions == "You are the front desk of a small hotel."

            browser = AsyncOpenAI(
                api_key=secret.value,
                base_url=f"http://127.0.0.1:{up}/v1",
                websocket_base_url=f"ws://127.0.0.1:{up}/v1",
            )
            async with browser.realtime.connect(model="gpt-realtime") as connection:
                talk = Conversation(connection)
                try:
                    _, created = await talk.wait_for("session.created")
                    assert created["session"]["instructions"].startswith("You are the front desk")
                    await connection.conversation.item.create(
                        item={
                            "type": "message",
                            "role": "user",
                            "content": [{"type": "input_text", "text": "Hello!"}],
                        }
                    )
                    await connection.response.create()
                    _, done = await talk.wait_for("response.done")
                    assert done["response"]["status"] == "completed"
                finally:
                    await talk.close()


async def test_direct_mode_off_answers_404():
    app = create_app(gateway_settings(9))  # never connects: the route refuses first
    async with serve_app(app) as port, httpx.AsyncClient() as http:
        response = await http.post(
            f"http://127.0.0.1:{port}/api/realtime/client-secret",
            headers={"Authorization": f"Bearer {USER_KEY}"},
        )
        assert response.status_code == 404
        assert "VOXGATE_DIRECT_MODE_ENABLED" in response.json()["error"]["message"]


def upstream_app(models):
    """The Realtime service (a voxgate of its own: its own store, apart from the gateway's)."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, api_keys=[UPSTREAM_KEY], data_dir=tempfile.mkdtemp(prefix="upstream")
    )
    return create_app(settings, models=models)


async def test_direct_call_runs_the_agents_tools_and_is_recorded(models, speech):
    async with serve_app(upstream_app(models)) as up:
        gateway = create_app(gateway_settings(up, direct_mode_enabled=True))
        async with serve_app(gateway) as port:
            base = f"http://127.0.0.1:{port}"
            async with RtcClient(base, mode="direct", api_key=USER_KEY) as browser:
                call_id = browser.session_id
                assert call_id and call_id.startswith("rtc_")
                # the browser's call is at the upstream; the gateway's listener joined it on its sideband
                browser.speak(
                    silence(400) + speech("What is the weather in Paris?") + silence(1200)
                )
                _, called = await browser.wait_for("response.function_call_arguments.done")
                assert called["name"] == "get_weather"  # a tool only the server's agent declares
                index, added = await browser.wait_for("conversation.item.added", after=0)
                while added["item"].get("type") != "function_call_output":
                    index, added = await browser.wait_for(
                        "conversation.item.added", after=index + 1
                    )
                assert added["item"]["call_id"] == called["call_id"]
                assert "Paris" in added["item"]["output"]
                while True:  # the spoken answer that follows the tool's output
                    index, done = await browser.wait_for("response.done", after=index + 1)
                    if any(o.get("type") == "message" for o in done["response"]["output"]):
                        break
                assert done["response"]["status"] == "completed"
                for _, ev in browser.heard.events:
                    validate_server_event(ev)
                async with httpx.AsyncClient(base_url=base) as http:
                    auth = {"Authorization": f"Bearer {USER_KEY}"}
                    async with asyncio.timeout(10):
                        while True:
                            r = await http.get(f"/api/realtime/transcripts/{call_id}", headers=auth)
                            assert r.status_code == 200, r.text
                            entries = r.json()["entries"]
                            if any(e["role"] == "assistant" for e in entries):
                                break
                            await asyncio.sleep(0.1)
                    assert entries[0]["role"] == "user" and "paris" in entries[0]["text"].lower()
                    assert entries[0]["source"] == "sideband"
                    assert entries[-1]["text"]
                    unauthorized = await http.get(f"/api/realtime/transcripts/{call_id}")
                    assert unauthorized.status_code == 401
                assert call_id in gateway.state.gateway.direct_calls
                # the call ends at the upstream: the listener ends with it, the transcript stays
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{up}/v1") as http:
                    hangup = await http.post(
                        f"/realtime/calls/{call_id}/hangup",
                        headers={"Authorization": f"Bearer {UPSTREAM_KEY}"},
                    )
                    assert hangup.status_code == 200
                async with asyncio.timeout(10):
                    while call_id in gateway.state.gateway.direct_calls:
                        await asyncio.sleep(0.1)
                stored = await gateway.state.gateway.history.get(call_id)
                assert stored is not None and stored.info.transport == "direct"
                assert any(i.type == "function_call" for i in stored.items)


async def test_client_transcripts_are_validated_and_kept():
    app = create_app(gateway_settings(9, direct_mode_enabled=True))
    async with serve_app(app) as port, httpx.AsyncClient() as http:
        url = f"http://127.0.0.1:{port}/api/realtime/transcripts"
        auth = {"Authorization": f"Bearer {USER_KEY}"}
        turns = [
            {"role": "user", "text": "Hello there", "item_id": "item_1"},
            {"role": "assistant", "text": "Hi! How can I help?", "item_id": "item_2"},
        ]
        ok = await http.post(url, json={"call_id": "rtc_abc", "entries": turns}, headers=auth)
        assert ok.status_code == 201, ok.text
        assert ok.json() == {"call_id": "rtc_abc", "accepted": 2}
        fixed = [{"role": "user", "text": "Hello, there", "item_id": "item_1"}]
        await http.post(url, json={"call_id": "rtc_abc", "entries": fixed}, headers=auth)
        got = await http.get(f"{url}/rtc_abc", headers=auth)
        assert [e["text"] for e in got.json()["entries"]] == ["Hello, there", "Hi! How can I help?"]
        assert {e["source"] for e in got.json()["entries"]} == {"client"}
        bad_bodies = [
            {"call_id": "rtc_abc", "entries": []},
            {"call_id": "rtc_abc", "entries": [{"role": "system", "text": "x"}]},
            {"call_id": "rtc_abc", "entries": [{"role": "user", "text": ""}]},
            {"call_id": "../etc", "entries": turns},
            {"entries": turns},
            {"call_id": "rtc_abc", "entries": turns, "extra": 1},
        ]
        for body in bad_bodies:
            refused = await http.post(url, json=body, headers=auth)
            assert refused.status_code == 422, body
        not_json = await http.post(url, content=b"{", headers=auth)
        assert not_json.status_code == 422
        assert (await http.post(url, json={"call_id": "x", "entries": turns})).status_code == 401
        assert (await http.get(f"{url}/rtc_unknown", headers=auth)).status_code == 404


async def test_direct_offer_errors_are_clear(models):
    async with (
        serve_app(upstream_app(models)) as up,
        serve_app(create_app(gateway_settings(up, direct_mode_enabled=True))) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        auth = {"Authorization": f"Bearer {USER_KEY}"}
        url = "/api/realtime/webrtc-offer"
        assert (await http.post(url, json={"sdp": "v=0"})).status_code == 401
        assert (await http.post(url, json={"type": "offer"}, headers=auth)).status_code == 422
        refused = await http.post(url, json={"sdp": "not an sdp"}, headers=auth)
        assert refused.status_code == 400
        assert "upstream refused the offer" in refused.json()["error"]["message"]
    # the upstream is gone: a 502 that says so
    async with (
        serve_app(create_app(gateway_settings(up, direct_mode_enabled=True))) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        gone = await http.post(url, json={"sdp": "v=0\r\n"}, headers=auth)
        assert gone.status_code == 502
        assert "unreachable" in gone.json()["error"]["message"]


async def test_every_direct_endpoint_answers_404_when_the_mode_is_off():
    app = create_app(gateway_settings(9))
    async with serve_app(app) as port, httpx.AsyncClient() as http:
        base = f"http://127.0.0.1:{port}/api/realtime"
        auth = {"Authorization": f"Bearer {USER_KEY}"}
        for method, path, body in [
            ("POST", "/client-secret", None),
            ("POST", "/webrtc-offer", {"sdp": "v=0", "type": "offer"}),
            ("POST", "/transcripts", {"call_id": "a", "entries": []}),
            ("GET", "/transcripts/rtc_1", None),
        ]:
            r = await http.request(method, base + path, json=body, headers=auth)
            assert r.status_code == 404, (path, r.text)


async def test_a_minted_key_opens_a_call_at_the_upstream_and_wrong_or_expired_keys_do_not(models):
    upstream = upstream_app(models)
    async with (
        serve_app(upstream) as up,
        serve_app(create_app(gateway_settings(up, direct_mode_enabled=True))) as port,
        httpx.AsyncClient() as http,
    ):
        minted = await http.post(
            f"http://127.0.0.1:{port}/api/realtime/client-secret",
            headers={"Authorization": f"Bearer {USER_KEY}"},
        )
        key = minted.json()["value"]
        async with RtcClient(f"http://127.0.0.1:{up}", mode="calls", api_key=key) as browser:
            _, created = await browser.wait_for("session.created")
            assert created["session"]["instructions"].startswith("You are the front desk")
        for wrong in ("ek_made_up", key[:-2] + "xx"):
            with pytest.raises(httpx.HTTPStatusError) as refused:
                async with RtcClient(f"http://127.0.0.1:{up}", mode="calls", api_key=wrong):
                    pass
            assert refused.value.response.status_code == 401
        expires_at = minted.json()["expires_at"]
        upstream.state.gateway.client_secrets.clock = lambda: expires_at + 1.0
        with pytest.raises(httpx.HTTPStatusError) as expired:
            async with RtcClient(f"http://127.0.0.1:{up}", mode="calls", api_key=key):
                pass
        assert expired.value.response.status_code == 401
        assert "expired" in expired.value.response.json()["error"]["message"]


async def test_usage_limit_per_key(models):
    async with (
        serve_app(upstream_app(models)) as up,
        serve_app(
            create_app(
                gateway_settings(
                    up,
                    direct_mode_enabled=True,
                    direct_sessions_per_hour=2,
                    api_keys=[USER_KEY, "sk-other"],
                )
            )
        ) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):

        async def mint(key: str) -> httpx.Response:
            return await http.post(
                "/api/realtime/client-secret", headers={"Authorization": f"Bearer {key}"}
            )

        assert (await mint(USER_KEY)).status_code == 200
        assert (await mint(USER_KEY)).status_code == 200
        refused = await mint(USER_KEY)
        assert refused.status_code == 429
        assert "usage limit" in refused.json()["error"]["message"]
        offer = await http.post(
            "/api/realtime/webrtc-offer",
            json={"sdp": "v=0"},
            headers={"Authorization": f"Bearer {USER_KEY}"},
        )
        assert offer.status_code == 429  # calls count against the same limit
        assert (await mint("sk-other")).status_code == 200
