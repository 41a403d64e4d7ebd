"""Custom voice: the upstream answers in text, Piper speaks it in the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.conftest import serve_app, silence
from tests.engines.openai.test_engine import assert_valid_ga, gateway_settings, upstream_app
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
        assert_valid_ga(client)


async def test_barge_in_cuts_the_spoken_reply_and_the_upstream_memory(models, speech):
    async with voiced_gateway(models) as url, VoiceClient(url) as client:
        await client.send_json(
            {"type": "text", "text": "Tell me a long story about a brave knight and a dragon."}
        )
        while not client.received.audio:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)  # the story has many phrases to go
        await client.stream(speech("Stop, please wait a moment.") + silence(200))
        await client.wait_for("input_audio_buffer.speech_started")
        index, done = await client.wait_for("response.done")
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"]["reason"] == "turn_detected"
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
        assert_valid_ga(client)
