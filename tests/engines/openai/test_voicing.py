"""Custom voice: the upstream answers in text, Piper (or Cartesia) speaks it in the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.conftest import assert_valid_ga, serve_app, silence, speak_over_the_reply
from tests.engines.openai.test_engine import gateway_settings, upstream_app
from tests.fake_cartesia import API_KEY, FakeCartesia
from voxgate.client import VoiceClient
from voxgate.server.app import create_app

pytestmark = pytest.mark.e2e


@contextlib.asynccontextmanager
async def voiced_gateway(models) -> AsyncIterator[str]:
    async with serve_app(upstream_app(models)) as up:
        settings = gateway_settings(up, openai_voice_provider="piper")
        async with serve_app(create_app(settings, models=models)) as port:
            yield f"ws://127.0.0.1:{port}/ws/{uuid.uuid4().hex}"


async def test_a_text_reply_is_spoken_by_piper(models):
    async with voiced_gateway(models) as url, VoiceClient(url) as client:
        await client.send_json({"type": "text", "text": "Say hello to me."})
        _, done = await client.wait_for("response.done")
        _, created = await client.wait_for("session.created")
        assert created["session"]["output_modalities"] == ["audio"]
        assert created["session"]["audio"]["output"]["voice"] == "joe"
        assert done["response"]["status"] == "completed"
        content = done["response"]["output"][0]["content"][0]
        assert content["type"] == "output_audio" and content["transcript"].strip()
        types = client.received.types()
        assert "response.output_text.delta" not in types
        assert "response.output_audio_transcript.delta" in types
        assert sum(n for _, n in client.received.audio) > 12000
        spoken = "".join(
            ev["delta"]
            for _, ev in client.received.events
            if ev["type"] == "response.output_audio_transcript.delta"
        )
        assert spoken.strip() == content["transcript"].strip()
        _, metrics = await client.wait_for("voxgate.metrics")
        assert metrics["response_id"] == done["response"]["id"]
        assert metrics["metrics"]["first_audio_ms"] > 0
        types = client.received.types()
        assert types.index("response.done") < types.index("voxgate.metrics")
        assert_valid_ga(client.received.events)


async def test_barge_in_cuts_the_spoken_reply_and_the_upstream_memory(models, speech):
    async with voiced_gateway(models) as url, VoiceClient(url) as client:
        await client.send_json(
            {"type": "text", "text": "Tell me a long story about a brave knight and a dragon."}
        )
        index = await speak_over_the_reply(client, speech)
        done = client.received.events[index][1]
        _, truncated = await client.wait_for("conversation.item.truncated")
        assert truncated["audio_end_ms"] > 0
        heard = done["response"]["output"][0]["content"][0]["transcript"]
        full = "".join(
            ev["delta"]
            for _, ev in client.received.events[:index]
            if ev["type"] == "response.output_audio_transcript.delta"
        )
        assert heard and full.strip().startswith(heard)  # what was played, at most all of it
        await asyncio.sleep(1.0)  # the upstream's copy of the (long) story is cut to what was heard
        await client.send_json(
            {"type": "conversation.item.retrieve", "item_id": truncated["item_id"]}
        )
        _, retrieved = await client.wait_for("conversation.item.retrieved", after=index)
        assert retrieved["item"]["content"][0]["text"] == heard
        assert_valid_ga(client.received.events)


def spoken_reply(ev: dict) -> bool:
    """A ``response.done`` with an assistant message (the local model may call a tool first)."""
    output = ev.get("response", {}).get("output") or []
    return ev["type"] == "response.done" and any(i["type"] == "message" for i in output)


@contextlib.asynccontextmanager
async def cartesia_gateway(models, fake: FakeCartesia, **extra) -> AsyncIterator[str]:
    async with serve_app(upstream_app(models)) as up:
        options = {
            "openai_voice_provider": "cartesia",
            "cartesia_api_key": API_KEY,
            "cartesia_voice_id": "voice-1",
            "cartesia_model_id": "sonic-test",
            "cartesia_base_url": fake.url,
        }
        settings = gateway_settings(up, **{**options, **extra})
        async with serve_app(create_app(settings, models=models)) as port:
            yield f"ws://127.0.0.1:{port}/ws/{uuid.uuid4().hex}"


async def test_a_text_reply_is_spoken_by_cartesia(models, speech):
    async with (
        FakeCartesia(speech) as fake,
        cartesia_gateway(models, fake) as url,
        VoiceClient(url) as client,
    ):
        await client.send_json({"type": "text", "text": "Say hello to me."})
        index, done = await client.wait_for(spoken_reply)
        assert done["response"]["status"] == "completed"
        content = done["response"]["output"][0]["content"][0]
        assert content["type"] == "output_audio" and content["transcript"].strip()
        first_contexts = set(fake.sent_audio)  # one, or more if the upstream paused a while
        sent = sum(len(audio) for audio in fake.sent_audio.values())
        assert sent > 12000 and sum(n for _, n in client.received.audio) == sent
        phrases = [r["transcript"] for r in fake.requests() if r["transcript"]]
        assert " ".join(phrases) == content["transcript"].strip()
        assert {r["voice"]["id"] for r in fake.requests()} == {"voice-1"}
        assert "error" not in client.received.types()
        assert_valid_ga(client.received.events)
        # a second reply: a new context on the same connection
        await client.send_json({"type": "text", "text": "Say hello to me again."})
        await client.wait_for(spoken_reply, after=index + 1, timeout=60)
        assert set(fake.sent_audio) > first_contexts and len(fake.connections) == 1


async def test_barge_in_cancels_the_cartesia_context(models, speech):
    async with (
        FakeCartesia(speech, stale_after_cancel=True) as fake,
        cartesia_gateway(models, fake) as url,
        VoiceClient(url) as client,
    ):
        fake.hold.clear()  # each phrase stops after its first chunk: the reply is still speaking
        await client.send_json(
            {"type": "text", "text": "Tell me a long story about a brave knight and a dragon."}
        )
        while not client.received.audio:
            await asyncio.sleep(0.02)
        await client.stream(speech("Stop, please wait a moment.") + silence(1200))
        index, done = await client.wait_for(spoken_reply)
        assert done["response"]["status"] == "cancelled"
        for _ in range(100):
            if fake.cancelled:
                break
            await asyncio.sleep(0.02)
        assert fake.cancelled, "the barge-in never cancelled the reply's context"
        context_id = fake.cancelled[0]  # the story's (a late phrase of it may be cancelled too)
        assert {"context_id": context_id, "cancel": True} in fake.received
        fake.hold.set()
        # the reply to "Stop, please wait a moment." (if the end-of-turn model took "Stop," for a
        # whole turn, its reply was cut by the rest of the sentence, as a barge-in should)
        nxt = done
        while nxt["response"]["status"] != "completed":
            assert nxt["response"]["status_details"]["reason"] == "turn_detected"
            index, nxt = await client.wait_for(spoken_reply, after=index + 1, timeout=60)
        assert len(fake.sent_audio) >= 2
        received = sum(n for _, n in client.received.audio)
        sent = sum(len(audio) for audio in fake.sent_audio.values())
        assert received <= sent  # the 1 s the server sent after the cancel never arrived
        assert_valid_ga(client.received.events)


async def test_a_bad_cartesia_key_is_an_error_and_the_session_goes_on(models, speech):
    async with (
        FakeCartesia(speech) as fake,
        cartesia_gateway(models, fake, cartesia_api_key="wrong") as url,
        VoiceClient(url) as client,
    ):
        await client.send_json({"type": "text", "text": "Say hello to me."})
        _, error = await client.wait_for("error")
        assert error["error"]["code"] == "tts_failed" and "HTTP 401" in error["error"]["message"]
        _, done = await client.wait_for(spoken_reply)
        assert done["response"]["status"] == "completed"
        assert done["response"]["output"][0]["content"][0]["transcript"].strip()
        assert not client.received.audio
        assert_valid_ga(client.received.events)
