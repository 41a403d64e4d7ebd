"""The full loop over WebRTC: a gateway on engine ``openai`` calling a second voxgate's ``/calls``."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests.conftest import assert_valid_ga, free_port, serve_app, silence, speak_over_the_reply
from tests.engines.openai.test_engine import (
    gateway,
    gateway_settings,
    until_no_upstream_sessions,
    upstream_app,
    upstream_sessions,
)
from voxgate.client import VoiceClient
from voxgate.engines.openai.connect import UpstreamClosed
from voxgate.engines.openai.webrtc import NO_AUDIO_S, TAIL_S, WebRTCUpstream, open_webrtc_upstream
from voxgate.server.app import create_app

pytestmark = pytest.mark.e2e


async def test_speech_through_a_second_voxgate_over_webrtc(models, speech):
    async with serve_app(upstream_app(models)) as up:
        async with gateway(up, openai_transport="webrtc") as url, VoiceClient(url) as client:
            await client.stream(
                silence(300) + speech("What is the capital of France?") + silence(1000)
            )
            _, heard = await client.wait_for(
                "conversation.item.input_audio_transcription.completed"
            )
            assert "france" in heard["transcript"].lower()
            _, done = await client.wait_for("response.done")
            assert done["response"]["status"] == "completed"
            # the reply's voice came back over the Opus track, before its audio's .done
            types = client.received.types()
            _, audio_done = await client.wait_for("response.output_audio.done")
            audio_done_at = next(t for t, ev in client.received.events if ev is audio_done)
            before = sum(n for t, n in client.received.audio if t <= audio_done_at)
            assert before > 24000
            assert before >= 0.9 * sum(n for _, n in client.received.audio)
            _, metrics = await client.wait_for("voxgate.metrics")
            assert metrics["tokens"]["output_text"] > 0
            assert metrics["metrics"]["voice_to_voice_ms"] > metrics["metrics"]["vad_delay_ms"] >= 0
            assert "output_audio_buffer.started" not in types  # the upstream's own track
            assert types.count("session.created") == 1
            assert_valid_ga(client.received.events)
            assert await upstream_sessions(up) == 1
        await until_no_upstream_sessions(up, timeout=20)


async def test_a_refused_call_is_a_connection_error(models):
    async with serve_app(upstream_app(models)) as up:
        settings = gateway_settings(up, openai_transport="webrtc")
        settings.openai_api_key = "sk-wrong"
        with pytest.raises(UpstreamClosed, match="401"):
            await open_webrtc_upstream(settings)


async def test_upstream_killed_mid_response_reconnects_over_webrtc(models):
    port = free_port()
    upstream = serve_app(upstream_app(models), port=port)
    await upstream.__aenter__()
    try:
        gateway = create_app(gateway_settings(port, openai_transport="webrtc"))
        async with (
            serve_app(gateway) as gateway_port,
            VoiceClient(f"ws://127.0.0.1:{gateway_port}/ws/{uuid.uuid4().hex}") as client,
        ):
            await client.send_json({"type": "text", "text": "Tell me a long story about a dragon."})
            _, user_item = await client.wait_for(
                lambda ev: ev["type"] == "conversation.item.added" and ev["item"]["role"] == "user"
            )
            index, created = await client.wait_for("response.created")
            while not client.received.audio:  # the reply's voice is coming over the track
                await asyncio.sleep(0.02)
            await upstream.__aexit__(None, None, None)  # the upstream goes away mid-reply
            index, failed = await client.wait_for("response.done", after=index)
            assert failed["response"]["id"] == created["response"]["id"]
            assert failed["response"]["status_details"]["error"]["code"] == "upstream_disconnected"
            await asyncio.sleep(0.5)
            upstream = serve_app(upstream_app(models), port=port)  # and comes back
            await upstream.__aenter__()
            _, again = await client.wait_for("response.created", after=index)
            assert again["response"]["id"] != created["response"]["id"]
            audio_before = len(client.received.audio)
            index, done = await client.wait_for("response.done", after=index + 1)
            assert done["response"]["status"] == "completed"
            assert client.received.audio[audio_before:]  # a new call, its voice on a new track
            await client.send_json(
                {"type": "conversation.item.retrieve", "item_id": user_item["item"]["id"]}
            )
            _, retrieved = await client.wait_for("conversation.item.retrieved", after=index)
            assert retrieved["item"]["content"][0]["text"] == "Tell me a long story about a dragon."
            assert_valid_ga(client.received.events)
    finally:
        await upstream.__aexit__(None, None, None)


async def test_barge_in_over_webrtc_cancels_the_reply_and_its_voice(models, speech):
    async with serve_app(upstream_app(models)) as up:
        gateway = create_app(gateway_settings(up, openai_transport="webrtc", agents="none"))
        async with (
            serve_app(gateway) as port,
            VoiceClient(f"ws://127.0.0.1:{port}/ws/{uuid.uuid4().hex}") as client,
        ):
            await client.send_json(
                {"type": "text", "text": "Tell me a long story about a brave knight and a dragon."}
            )
            # the user speaks: the upstream hears it on the Opus track and stops its reply
            index = await speak_over_the_reply(client, speech)
            _, truncated = await client.wait_for("conversation.item.truncated")
            assert truncated["audio_end_ms"] > 0
            done_at = client.received.events[index][0]
            await asyncio.sleep(1.0)
            # (the reply to "stop" may begin meanwhile: its audio follows its response.created)
            next_at = next(
                (t for t, ev in client.received.events[index:] if ev["type"] == "response.created"),
                float("inf"),
            )
            late = sum(n for t, n in client.received.audio if done_at < t < next_at)
            assert late == 0, f"{late} bytes of the cancelled reply after its end"
            assert "output_audio_buffer.cleared" not in client.received.types()
            assert_valid_ga(client.received.events)


def _ev(type_: str, **fields) -> str:
    return json.dumps({"type": type_, "event_id": "event_1", **fields})


def _drain(upstream: WebRTCUpstream) -> list[str]:
    out = []
    while not upstream._inbox.empty():
        ev = upstream._inbox.get_nowait()
        assert ev is not None
        out.append(ev["type"])
    return out


async def test_a_replys_closing_events_wait_for_its_audio():
    upstream = WebRTCUpstream()
    try:
        part = {"response_id": "resp_1", "item_id": "item_1", "output_index": 0}
        upstream._on_message(_ev("response.content_part.added", content_index=0, **part))
        upstream._on_message(_ev("output_audio_buffer.started", response_id="resp_1"))
        await upstream._on_audio(b"\1\0" * 960)
        upstream._on_message(_ev("response.output_audio.done", content_index=0, **part))
        upstream._on_message(_ev("response.done", response={"id": "resp_1"}))
        await upstream._on_audio(b"\1\0" * 960)  # still playing: still this reply's audio
        assert _drain(upstream) == [
            "response.content_part.added",
            "response.output_audio.delta",
            "response.output_audio.delta",
        ]
        upstream._on_message(_ev("output_audio_buffer.stopped", response_id="resp_1"))
        await upstream._on_audio(b"\1\0" * 960)  # in flight when the upstream stopped
        await asyncio.sleep(TAIL_S + 0.1)
        await upstream._on_audio(b"\0\0" * 960)  # silence between replies: no delta
        assert _drain(upstream) == [
            "response.output_audio.delta",
            "response.output_audio.done",
            "response.done",
        ]
        # cleared before its .done (a barge-in): nothing waits
        upstream._on_message(_ev("output_audio_buffer.started", response_id="resp_2"))
        upstream._on_message(_ev("output_audio_buffer.cleared", response_id="resp_2"))
        await upstream._on_audio(b"\1\0" * 960)
        upstream._on_message(_ev("response.output_audio.done", response_id="resp_2"))
        upstream._on_message(_ev("response.done", response={"id": "resp_2"}))
        assert _drain(upstream) == ["response.output_audio.done", "response.done"]
        # a reply whose audio never starts: its events wait NO_AUDIO_S at most
        upstream._on_message(_ev("response.output_audio.done", response_id="resp_3"))
        assert _drain(upstream) == []
        await asyncio.sleep(NO_AUDIO_S + 0.1)
        assert _drain(upstream) == ["response.output_audio.done"]
    finally:
        await upstream.close()


async def test_the_tracks_audio_is_an_event_of_pcm_bytes():
    upstream = WebRTCUpstream()
    part = {"response_id": "resp_1", "item_id": "item_1", "output_index": 0, "content_index": 0}
    upstream._on_message(_ev("response.content_part.added", **part))
    upstream._on_message("not an event")  # logged and dropped
    upstream._on_message(_ev("output_audio_buffer.started", response_id="resp_1"))
    await upstream._on_audio(b"\1\0" * 960)
    assert (await upstream.recv())["type"] == "response.content_part.added"
    delta = await upstream.recv()
    assert delta["type"] == "response.output_audio.delta"
    assert delta["delta"] == b"\1\0" * 960 and delta["item_id"] == "item_1"
    await upstream.close()
    with pytest.raises(UpstreamClosed):
        await upstream.recv()


async def test_a_commit_covers_the_audio_sent_before_it(models, speech):
    async with serve_app(upstream_app(models)) as up:
        gateway = create_app(gateway_settings(up, openai_transport="webrtc", agents="none"))
        async with (
            serve_app(gateway) as port,
            VoiceClient(f"ws://127.0.0.1:{port}/ws/{uuid.uuid4().hex}") as client,
        ):
            await client.send_json(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
                }
            )
            await client.wait_for("session.updated")
            # all at once: the track carries it in real time, the commit must wait for it
            await client.stream(speech("What is the capital of France?"), realtime=False)
            await client.send_json({"type": "input_audio_buffer.commit"})
            await client.send_json({"type": "response.create"})
            _, heard = await client.wait_for(
                "conversation.item.input_audio_transcription.completed"
            )
            assert "france" in heard["transcript"].lower()
            _, done = await client.wait_for("response.done")
            assert done["response"]["status"] == "completed"
            assert "error" not in client.received.types()
