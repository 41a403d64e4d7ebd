"""End to end: a real server on 127.0.0.1, real audio streamed at real-time pace over /ws."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import assert_valid_ga, session_url, silence, speak_over_the_reply
from voxgate.client import VoiceClient

pytestmark = pytest.mark.e2e


async def test_spoken_question_gets_a_spoken_answer(server_url, speech):
    async with VoiceClient(session_url(server_url)) as client:
        await client.stream(silence(400) + speech("What is the capital of France?") + silence(1200))
        _, done = await client.wait_for("response.done")
        types = client.received.types()
        order = [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.input_audio_transcription.completed",
            "response.created",
            "response.output_audio_transcript.done",
            "response.done",
        ]
        assert [types.index(t) for t in order] == sorted(types.index(t) for t in order)
        _, heard = await client.wait_for("conversation.item.input_audio_transcription.completed")
        assert "capital" in heard["transcript"].lower() and "france" in heard["transcript"].lower()
        assert done["response"]["status"] == "completed"
        assert done["response"]["usage"]["output_tokens"] > 0
        assert sum(n for _, n in client.received.audio) > 24000  # over half a second of speech
        created_at = next(t for t, ev in client.received.events if ev["type"] == "response.created")
        assert client.received.audio[0][0] >= created_at
        assert_valid_ga(client.received.events)


async def test_typed_text_gets_a_spoken_answer(server_url):
    async with VoiceClient(session_url(server_url)) as client:
        await client.send_json({"type": "text", "text": "Say hello to me."})
        _, done = await client.wait_for("response.done")
        assert done["response"]["status"] == "completed"
        transcript = done["response"]["output"][0]["content"][0]["transcript"]
        assert transcript.strip()
        assert client.received.audio
        assert_valid_ga(client.received.events)


async def test_text_only_output(server_url):
    async with VoiceClient(session_url(server_url)) as client:
        await client.send_json(
            {
                "type": "session.update",
                "session": {"type": "realtime", "output_modalities": ["text"]},
            }
        )
        await client.wait_for(  # the agent's own session.update may come first
            lambda ev: (
                ev["type"] == "session.updated" and ev["session"]["output_modalities"] == ["text"]
            )
        )
        await client.send_json({"type": "text", "text": "Say hello."})
        _, done = await client.wait_for("response.done")
        assert done["response"]["output"][0]["content"][0]["text"].strip()
        assert "response.output_text.delta" in client.received.types()
        assert not client.received.audio
        assert_valid_ga(client.received.events)


async def test_barge_in_cancels_the_reply_and_stops_audio(server_url, speech):
    async with VoiceClient(session_url(server_url)) as client:
        await client.send_json(
            {
                "type": "text",
                "text": "Tell me a long story about a brave knight, a dragon and a castle.",
            }
        )
        await client.wait_for("response.created")
        index = await speak_over_the_reply(client, speech)
        done_at, done = client.received.events[index]
        _, truncated = await client.wait_for("conversation.item.truncated")
        assert truncated["audio_end_ms"] > 0
        await asyncio.sleep(0.5)
        next_reply_at = next(
            (t for t, ev in client.received.events[index:] if ev["type"] == "response.created"),
            float("inf"),
        )
        late = [t for t, _ in client.received.audio if done_at + 0.05 < t < next_reply_at]
        assert not late, "audio of the cancelled reply kept coming"
        spoken = done["response"]["output"][0]["content"][0]["transcript"]
        full = "".join(
            ev["delta"]
            for _, ev in client.received.events[:index]
            if ev["type"] == "response.output_audio_transcript.delta"
        )
        assert len(spoken) <= len(full)
        assert_valid_ga(client.received.events)


async def test_manual_commit_without_server_vad(server_url, speech):
    async with VoiceClient(session_url(server_url)) as client:
        await client.send_json(
            {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
            }
        )
        # the agent's own session.update may come first
        await client.wait_for(
            lambda ev: (
                ev["type"] == "session.updated"
                and ev["session"]["audio"]["input"]["turn_detection"] is None
            )
        )
        await client.stream(
            speech("Can you recommend a good book to read?") + silence(600), realtime=False
        )
        await asyncio.sleep(0.3)
        assert "input_audio_buffer.speech_started" not in client.received.types()
        await client.send_json({"type": "commit_audio"})
        _, heard = await client.wait_for("conversation.item.input_audio_transcription.completed")
        assert "book" in heard["transcript"].lower()
        _, done = await client.wait_for("response.done")
        assert done["response"]["status"] == "completed"
        assert_valid_ga(client.received.events)


async def test_two_clients_share_one_session(server_url):
    session = session_url(server_url)
    async with VoiceClient(session) as first, VoiceClient(session) as second:
        await first.send_json({"type": "text", "text": "Hello there."})
        _, a = await first.wait_for("response.done")
        _, b = await second.wait_for("response.done")
        assert a["response"]["id"] == b["response"]["id"]
        assert second.received.audio


BAD_INPUT = [
    ("{not json", "invalid_json"),
    ('["a list"]', "invalid_event"),
    ('{"type": "no.such.event"}', "unknown_event_type"),
    (
        '{"type": "session.update", "session": {"type": "realtime", "instructions": 5}}',
        "invalid_value",
    ),
    ('{"type": "text", "text": 42}', "invalid_value"),
    ('{"type": "text", "text": "   "}', "invalid_value"),
    ('{"type": "input_audio_buffer.append", "audio": "not base64!"}', "invalid_value"),
    ('{"type": "input_audio_buffer.append", "audio": "AAAA"}', "invalid_audio"),
    ('{"type": "response.cancel"}', "response_cancel_not_active"),
    ('{"type": "input_audio_buffer.commit"}', "input_audio_buffer_commit_empty"),
    ('{"type": "conversation.item.delete", "item_id": "item_missing"}', "item_not_found"),
    (
        '{"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}}}',
        "unsupported_audio_format",
    ),
    (b"\x00\x01\x02", "invalid_audio"),
    (b"\x00" * (256 * 1024 + 2), "audio_frame_too_large"),
]


@pytest.mark.parametrize(
    ("frame", "code"), BAD_INPUT, ids=[code + str(i) for i, (_, code) in enumerate(BAD_INPUT)]
)
async def test_bad_input_gets_an_error_and_the_session_goes_on(server_url, frame, code):
    async with VoiceClient(session_url(server_url)) as client:
        await client.send_raw(frame)
        _, error = await client.wait_for("error", timeout=10)
        assert error["error"]["code"] == code
        assert error["error"]["message"]
        await client.send_json({"type": "text", "text": "Say yes."})
        _, done = await client.wait_for("response.done")
        assert done["response"]["status"] == "completed"
        assert_valid_ga(client.received.events)


async def test_a_bad_session_id_is_refused_with_a_message(server_url):
    async with VoiceClient(f"{server_url}/ws/{'x' * 200}") as client:
        _, error = await client.wait_for("error", timeout=5)
        assert error["error"]["code"] == "invalid_session_id"


async def test_agent_query_parameter_chooses_the_starting_agent(server_url):
    async with VoiceClient(session_url(server_url) + "?agent=seat_booking_agent") as client:
        await client.send_json({"type": "text", "text": "Hello."})
        _, updated = await client.wait_for("session.updated")
        assert updated["session"]["instructions"].startswith("You are a seat booking agent")
    async with VoiceClient(session_url(server_url) + "?agent=pilot") as client:
        _, error = await client.wait_for("error")
        assert error["error"]["code"] == "unknown_agent"
        assert "triage_agent" in error["error"]["message"]


def test_queued_reply_audio_of_one_content_part_merges_into_one_frame_up_to_a_cap():
    from voxgate.transports.websocket import MERGED_AUDIO_BYTES, merge_audio

    part = {"response_id": "resp_1", "item_id": "item_1", "output_index": 0, "content_index": 0}
    a = {"type": "response.output_audio.delta", **part, "delta": b"\x01\x00" * 480}
    b = {"type": "response.output_audio.delta", **part, "delta": b"\x02\x00" * 480}
    merged = merge_audio(a, b)
    assert merged is not None and bytes(merged["delta"]) == a["delta"] + b["delta"]
    assert a["delta"] == b"\x01\x00" * 480  # the queued events are left as they were
    shared = {**b, "delta": bytearray(b"\x03\x00" * 480)}  # an engine's, seen by others too
    again = merge_audio(merge_audio(shared, b), b)
    assert again is not None and len(again["delta"]) == 3 * 960
    assert shared["delta"] == bytearray(b"\x03\x00" * 480)
    other_item = {**b, "item_id": "item_2"}
    assert merge_audio(a, other_item) is None
    assert merge_audio(a, {"type": "response.output_audio.done", **part}) is None
    big = {**b, "delta": bytes(MERGED_AUDIO_BYTES)}
    assert merge_audio(a, big) is None
