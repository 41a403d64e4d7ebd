"""Spoken turns end to end over /ws: semantic_vad, and sounds over a reply that do not stop it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import pytest
import websockets

from tests.conftest import assert_valid_ga, session_url, silence
from voxgate.audio import SAMPLE_RATE
from voxgate.client import VoiceClient
from voxgate.engines.local.turn_detection import SemanticPolicy
from voxgate.protocol import Event, validate_server_event

pytestmark = pytest.mark.e2e

STORY = "Tell me a long story about a brave knight, a dragon and a castle."


async def turn_detection(client: VoiceClient, td: dict[str, Any], **session: Any) -> None:
    await client.send_json(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"turn_detection": td}}, **session},
        }
    )
    await client.wait_for(  # the agent's own session.update may come first
        lambda ev: (
            ev["type"] == "session.updated"
            and ev["session"]["audio"]["input"]["turn_detection"]["type"] == td["type"]
        )
    )


def of_type(client: VoiceClient, type_: str, after: int = 0) -> list[Event]:
    return [ev for _, ev in client.received.events[after:] if ev["type"] == type_]


def speech_end_ms(pcm: bytes) -> float:
    loud = np.nonzero(np.abs(np.frombuffer(pcm, dtype=np.int16)) > 500)[0]
    return float(loud[-1] + 1) * 1000 / SAMPLE_RATE


@pytest.mark.parametrize(("kind", "commits"), [("semantic_vad", 1), ("server_vad", 2)])
async def test_semantic_vad_waits_through_a_mid_sentence_pause(server_url, speech, kind, commits):
    async with VoiceClient(session_url(server_url)) as client:
        await turn_detection(client, {"type": kind})
        await client.stream(
            silence(300)
            + speech("I would like to change my seat to")
            + silence(700)  # thinking
            + speech("fourteen C please.")
            + silence(2500)
        )
        await client.wait_for("conversation.item.input_audio_transcription.completed")
        await asyncio.sleep(0.5)
        assert len(of_type(client, "input_audio_buffer.committed")) == commits
        if kind == "semantic_vad":  # one turn, with both parts' words
            [heard] = of_type(client, "conversation.item.input_audio_transcription.completed")
            words = heard["transcript"].lower()
            assert "seat" in words and ("fourteen" in words or "14" in words)
        assert_valid_ga(client.received.events)


async def test_semantic_vad_ends_a_finished_question_no_later_than_server_vad(server_url, speech):
    clip = silence(300) + speech("What is the capital of France?")
    ended_after = {}
    for kind in ("server_vad", "semantic_vad"):
        async with VoiceClient(session_url(server_url)) as client:
            await turn_detection(client, {"type": kind})
            await client.stream(clip + silence(1200))
            _, stopped = await client.wait_for("input_audio_buffer.speech_stopped")
            # in the input's own time: how much audio had arrived when the turn ended
            ended_after[kind] = stopped["audio_end_ms"] - speech_end_ms(clip)
    assert ended_after["semantic_vad"] <= ended_after["server_vad"], ended_after


async def test_semantic_vad_ends_a_sentence_the_model_doubts_before_its_longest_wait(
    server_url, speech, models, monkeypatch
):
    monkeypatch.setattr(type(models), "end_of_turn", lambda self, audio: 0.05)  # never sure
    clip = silence(300) + speech("What is the capital of France?")
    async with VoiceClient(session_url(server_url)) as client:
        await turn_detection(client, {"type": "semantic_vad"})
        await client.stream(clip + silence(2500))
        _, stopped = await client.wait_for("input_audio_buffer.speech_stopped")
    ended_after = stopped["audio_end_ms"] - speech_end_ms(clip)
    policy = SemanticPolicy.of("auto")
    assert policy.sentence_wait_ms <= ended_after < policy.max_wait_ms, ended_after


async def speak_during_a_reply(client: VoiceClient, pcm: bytes) -> int:
    """Ask for a long spoken reply; once it plays, say ``pcm``. Returns where that began."""
    await turn_detection(client, {"type": "semantic_vad"}, max_output_tokens=48)
    await client.send_json({"type": "text", "text": STORY})
    await client.wait_for("response.created")
    while not client.received.audio:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.6)
    mark = len(client.received.events)
    await client.stream(pcm + silence(1500))
    return mark


@pytest.mark.parametrize("backchannel", ["Okay."])  # Whisper tiny hears Piper's hums as words
async def test_a_backchannel_during_a_reply_does_not_cancel_it(server_url, speech, backchannel):
    async with VoiceClient(session_url(server_url)) as client:
        mark = await speak_during_a_reply(client, speech(backchannel))
        await client.wait_for("input_audio_buffer.speech_started", after=mark)
        index, resumed = await client.wait_for("voxgate.response.resumed", after=mark)
        resumed_at = client.received.events[index][0]
        _, done = await client.wait_for("response.done", after=mark, timeout=60)
        assert done["response"]["status"] == "completed"  # it went on to its end
        assert resumed["response_id"] == done["response"]["id"] and resumed["audio_start_ms"] > 0
        assert of_type(client, "input_audio_buffer.cleared", mark)
        assert not of_type(client, "input_audio_buffer.committed", mark)  # no user turn
        assert not of_type(client, "conversation.item.truncated", mark)
        assert [t for t, _ in client.received.audio if t > resumed_at]  # the reply was heard on
        assert_valid_ga(client.received.events)


async def test_a_short_real_interruption_cancels_the_reply_and_truncates_it(server_url, speech):
    async with VoiceClient(session_url(server_url)) as client:
        mark = await speak_during_a_reply(client, speech("Stop, please."))
        index, _ = await client.wait_for("input_audio_buffer.speech_started", after=mark)
        started_at = client.received.events[index][0]
        done_index, done = await client.wait_for("response.done", after=mark)
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"]["reason"] == "turn_detected"
        _, truncated = await client.wait_for("conversation.item.truncated", after=mark)
        assert truncated["audio_end_ms"] > 0
        done_at = client.received.events[done_index][0]
        # the reply's audio stopped when the user spoke, not when it was found to interrupt
        assert not [t for t, _ in client.received.audio if started_at + 0.05 < t <= done_at]
        assert not of_type(client, "voxgate.response.resumed", mark)
        _, heard = await client.wait_for(
            "conversation.item.input_audio_transcription.completed", after=mark
        )
        # tiny.en hears a word differently as the clip moves by a few ms ("start please")
        words = heard["transcript"].lower()
        assert "stop" in words or "please" in words, words
        assert_valid_ga(client.received.events)


async def test_v1_realtime_takes_semantic_vad(server_url):
    td = {"type": "semantic_vad", "eagerness": "low", "create_response": True}
    async with websockets.connect(f"{server_url}/v1/realtime?model=gpt-realtime") as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        await ws.send(
            json.dumps(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "audio": {"input": {"turn_detection": td}}},
                }
            )
        )
        while (ev := json.loads(await asyncio.wait_for(ws.recv(), 10)))[
            "type"
        ] != "session.updated":
            assert ev["type"] != "error", ev
        validate_server_event(ev)
        assert ev["session"]["audio"]["input"]["turn_detection"] == {
            **td,
            "interrupt_response": True,
        }
