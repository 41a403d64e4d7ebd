"""End to end over WebRTC: an aiortc peer speaks Piper audio on a real Opus track to a live server."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import assert_valid_ga, silence
from voxgate.rtc_client import RtcClient
from voxgate.server.app import create_app
from voxgate.settings import Settings

pytestmark = pytest.mark.e2e


def http(server_url: str) -> str:
    return server_url.replace("ws://", "http://")


async def assert_agent_audio_ends(client: RtcClient) -> None:
    """After a cancel the track is quiet: its last word is ``cleared`` (or ``stopped``, when
    the speech had already run dry as the cancel came)."""
    await asyncio.sleep(0.3)
    last = [t for t in client.heard.types() if t.startswith("output_audio_buffer.")][-1]
    assert last in ("output_audio_buffer.cleared", "output_audio_buffer.stopped")


async def ask_capital(client: RtcClient, speech) -> None:
    client.speak(silence(400) + speech("What is the capital of France?") + silence(1500))
    _, heard = await client.wait_for("conversation.item.input_audio_transcription.completed")
    assert "capital" in heard["transcript"].lower() and "france" in heard["transcript"].lower()
    _, done = await client.wait_for("response.done")
    assert done["response"]["status"] == "completed"
    await client.wait_for("output_audio_buffer.stopped")


async def test_offer_spoken_question_gets_spoken_answer(server_url, speech):
    async with RtcClient(http(server_url)) as client:
        assert client.session_id
        await ask_capital(client, speech)
        types = client.heard.types()
        assert "voxgate.webrtc.connected" in types
        assert "response.output_audio.delta" not in types  # audio rides the track
        assert types.index("output_audio_buffer.started") > types.index("response.created")
        assert client.heard.speech_ms > 500  # over half a second of agent speech on the track
        created_at = next(t for t, ev in client.heard.events if ev["type"] == "response.created")
        assert client.heard.speech[0] >= created_at
        assert_valid_ga(client.heard.events)


async def test_calls_multipart_session_and_ga_events_only(server_url, speech):
    session = {"type": "realtime", "instructions": "You are a geography tutor. Answer briefly."}
    async with RtcClient(http(server_url), mode="calls", session=session) as client:
        assert client.location and client.location.startswith("/v1/realtime/calls/rtc_")
        # The server's agent configures the session first; the call's `session` comes after it.
        index, updated = await client.wait_for("session.updated")
        while not updated["session"]["instructions"].startswith("You are a geography tutor"):
            index, updated = await client.wait_for("session.updated", after=index + 1)
        await ask_capital(client, speech)
        assert not [t for t in client.heard.types() if t.startswith("voxgate.")]
        assert client.heard.speech_ms > 500
        assert_valid_ga(client.heard.events)


async def test_calls_plain_sdp_body_and_text_event(server_url):
    async with RtcClient(http(server_url), mode="calls") as client:
        client.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Say hello to me."}],
                },
            }
        )
        client.send({"type": "response.create"})
        _, done = await client.wait_for("response.done")
        assert done["response"]["status"] == "completed"
        await client.wait_for("output_audio_buffer.stopped")
        assert client.heard.speech
        client.send({"type": "text", "text": "a voxgate shortcut is not GA"})
        _, error = await client.wait_for("error")
        assert error["error"]["code"] == "unknown_event_type"
        assert_valid_ga(client.heard.events)


async def test_interrupt_stops_the_agent_voice_on_the_track(server_url):
    async with RtcClient(http(server_url)) as client:
        client.send({"type": "text", "text": "Tell me a long story about a knight and a dragon."})
        await client.wait_for("output_audio_buffer.started")
        while not client.heard.speech:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.4)
        client.send({"type": "interrupt"})
        index, done = await client.wait_for("response.done")
        assert done["response"]["status"] == "cancelled"
        await assert_agent_audio_ends(client)
        done_at = client.heard.events[index][0]
        await asyncio.sleep(1.5)
        # Half a second of slack for the packets already in flight and the jitter buffer.
        late = [t for t in client.heard.speech if t > done_at + 0.5]
        assert not late, f"{len(late)} frames of agent speech after the interrupt"


async def test_barge_in_by_voice_truncates_and_flushes(server_url, speech):
    async with RtcClient(http(server_url)) as client:
        client.send({"type": "text", "text": "Tell me a long story about a brave knight."})
        await client.wait_for("output_audio_buffer.started")
        await asyncio.sleep(0.6)
        client.speak(speech("Stop, please wait a moment.") + silence(300))
        await client.wait_for("input_audio_buffer.speech_started")
        _, done = await client.wait_for("response.done")
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"]["reason"] == "turn_detected"
        _, truncated = await client.wait_for("conversation.item.truncated")
        assert truncated["audio_end_ms"] > 0
        await assert_agent_audio_ends(client)
        assert_valid_ga(client.heard.events)


async def test_resume_a_parked_session(server_url):
    async with RtcClient(http(server_url)) as first:
        first.send({"type": "text", "text": "Say hello."})
        await first.wait_for("response.done")
        session_id = first.session_id
    async with RtcClient(http(server_url), session_id=session_id) as again:
        assert again.session_id == session_id
        _, created = await again.wait_for("session.created")  # the parked session's config
        assert created["session"]["type"] == "realtime"


async def test_bad_offers_get_clear_errors(server_url):
    async with httpx.AsyncClient(base_url=http(server_url)) as client:
        r = await client.post("/api/webrtc/offer", json={"sdp": "hello", "type": "offer"})
        assert r.status_code == 400 and "SDP" in r.json()["detail"]
        r = await client.post("/api/webrtc/offer", json={"sdp": "v=0", "session_id": "a b"})
        assert r.status_code == 400 and "session id" in r.json()["detail"]
        r = await client.post("/api/webrtc/offer", json={"type": "offer"})
        assert r.status_code == 422
        r = await client.post(
            "/v1/realtime/calls", content="nope", headers={"Content-Type": "application/sdp"}
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_sdp"
        r = await client.post(
            "/v1/realtime/calls",
            files={
                "sdp": (None, "v=0\r\n"),
                "session": (None, '{"type": "realtime", "output_modalities": "loud"}'),
            },
        )
        assert r.status_code == 400 and r.json()["error"]["param"].startswith("session")
        r = await client.post("/v1/realtime/calls/rtc_unknown/hangup")
        assert r.status_code == 404


async def test_feature_flag_and_bearer_keys(models):
    settings = Settings(_env_file=None, webrtc_enabled=False)  # type: ignore[call-arg]
    transport = httpx.ASGITransport(app=create_app(settings, models=models))
    async with httpx.AsyncClient(transport=transport, base_url="http://voxgate") as client:
        r = await client.post("/api/webrtc/offer", json={"sdp": "v=0", "type": "offer"})
        assert r.status_code == 404 and "turned off" in r.json()["error"]["message"]
        r = await client.post("/v1/realtime/calls", content="v=0")
        assert r.status_code == 404
    settings = Settings(_env_file=None, api_keys=["sk-test"])  # type: ignore[call-arg]
    app = create_app(settings, models=models)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://voxgate") as client,
    ):
        r = await client.post("/v1/realtime/calls", content="v=0")
        assert r.status_code == 401 and "Bearer" in r.json()["error"]["message"]
        r = await client.post(
            "/v1/realtime/calls", content="v=0", headers={"Authorization": "Bearer sk-wrong"}
        )
        assert r.status_code == 401
        r = await client.post(
            "/v1/realtime/calls", content="v=0", headers={"Authorization": "Bearer ek_unknown"}
        )
        assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
        minted = await client.post(
            "/v1/realtime/client_secrets",
            json={"session": {"type": "realtime", "instructions": "Be brief."}},
            headers={"Authorization": "Bearer sk-test"},
        )
        key = minted.json()["value"]
        r = await client.post(  # the key is good: what is wrong now is the offer
            "/v1/realtime/calls",
            content="v=0",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/sdp"},
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_sdp"


async def test_offer_chooses_the_starting_agent(server_url):
    async with RtcClient(http(server_url), agent="faq_agent") as client:
        client.send({"type": "text", "text": "Hello."})
        _, updated = await client.wait_for("session.updated")
        assert updated["session"]["instructions"].startswith("You are an FAQ agent")
    async with httpx.AsyncClient(base_url=http(server_url)) as http_client:
        r = await http_client.post(
            "/api/webrtc/offer", json={"sdp": "v=0", "type": "offer", "agent": "pilot"}
        )
        assert r.status_code == 400 and "faq_agent" in r.json()["detail"]
        config = (await http_client.get("/api/client-config")).json()
        assert config["agents"][0] == "triage_agent" and "seat_booking_agent" in config["agents"]
        assert config["webrtc"] == {"enabled": True, "ice_servers": []}
