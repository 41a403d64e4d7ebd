"""A custom voice around any engine: here the scripted engine, and engine ``openai`` in-process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from tests.conftest import assert_valid_ga
from tests.engines.openai.engine_upstream import EngineUpstream
from tests.engines.openai.test_connect import settings, texts, until, user
from voxgate.agents.testing import ScriptedEngine, say
from voxgate.components.tts import SpeechContext, TTSError
from voxgate.engines.openai import OpenAIEngine
from voxgate.engines.voiced import VoicedEngine
from voxgate.protocol import Event

WORD_BYTES = 4800  # 100 ms of 24 kHz PCM16 per word


class _Context:
    def __init__(self, tts: FakeTTS) -> None:
        self._tts = tts

    async def speak(self, text: str) -> AsyncIterator[bytes]:
        if self._tts.fail:
            raise TTSError("the speech service is down")
        for _ in text.split():
            await asyncio.sleep(0)
            yield b"\1\0" * (WORD_BYTES // 2)

    def cancel(self) -> None:
        self._tts.cancelled += 1

    def end(self) -> None:
        pass


class FakeTTS:
    """100 ms of audio per word, at once (or a ``TTSError`` when ``fail``)."""

    sample_rate = 24000

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.cancelled = 0
        self.closed = False
        self.speeds: list[float] = []

    def context(self, *, speed: float = 1.0) -> SpeechContext:
        self.speeds.append(speed)
        return _Context(self)

    async def aclose(self) -> None:
        self.closed = True


def spoken_text(seen: list[Event]) -> str:
    return "".join(
        ev["delta"] for ev in seen if ev["type"] == "response.output_audio_transcript.delta"
    )


def audio_bytes(seen: list[Event]) -> int:
    return sum(len(ev["delta"]) for ev in seen if ev["type"] == "response.output_audio.delta")


async def test_a_scripted_engines_text_reply_is_spoken():
    inner = ScriptedEngine([say("Hello there. It is a fine day today.")])
    tts = FakeTTS()
    engine = VoicedEngine(inner, tts, voice="joe")
    events, seen = engine.events(), []
    try:
        created = await until(events, "session.created", seen)
        assert created["session"]["output_modalities"] == ["audio"]
        assert created["session"]["audio"]["output"]["voice"] == "joe"
        await engine.send(user("Say hello."))
        await engine.send({"type": "response.create"})
        done = await until(events, "response.done", seen)
        assert inner.received[0]["session"]["output_modalities"] == ["text"]
        assert done["response"]["status"] == "completed"
        assert done["response"]["output_modalities"] == ["audio"]
        content = done["response"]["output"][0]["content"][0]
        assert content == {
            "type": "output_audio",
            "transcript": "Hello there. It is a fine day today.",
        }
        assert spoken_text(seen) == content["transcript"]
        assert audio_bytes(seen) == WORD_BYTES * len(content["transcript"].split())
        types = [ev["type"] for ev in seen]
        assert "response.output_text.delta" not in types
        assert "session.updated" not in types  # the answer to the wrapper's own update
        assert types.index("response.output_audio.done") > types.index(
            "response.output_audio.delta"
        )
        assert_valid_ga((0.0, ev) for ev in seen)
    finally:
        await engine.close()
    assert tts.closed


async def test_barge_in_cuts_the_reply_and_the_inner_engines_memory_to_what_was_heard():
    story = (
        "Once upon a time there was a knight. He rode a horse across the hills every day. "
        "The dragon slept in a cave by the sea and dreamt of gold."
    )
    inner = ScriptedEngine([say(story, hold=True)])
    tts = FakeTTS()
    engine = VoicedEngine(inner, tts, voice="joe")
    events, seen = engine.events(), []
    try:
        await until(events, "session.created", seen)
        await engine.send(user("Tell me a story."))
        await engine.send({"type": "response.create"})
        await until(events, "response.output_audio.delta", seen)
        await asyncio.sleep(0.5)  # half a second of it has been heard
        inner.speech_started()
        done = await until(events, "response.done", seen)
        truncated = await until(events, "conversation.item.truncated", seen)
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"]["reason"] == "turn_detected"
        heard = done["response"]["output"][0]["content"][0]["transcript"]
        assert heard and story.startswith(heard) and heard != story
        assert spoken_text(seen).startswith(heard)
        item_id = done["response"]["output"][0]["id"]
        assert truncated["item_id"] == item_id and truncated["audio_end_ms"] >= 400
        assert tts.cancelled == 1
        # the inner engine is told, with plain client events, and remembers only the words heard
        async with asyncio.timeout(5):
            while not any(ev["type"] == "conversation.item.create" for ev in inner.received[3:]):
                await asyncio.sleep(0.01)
        delete, create = inner.received[-2:]
        assert delete == {
            "type": "conversation.item.delete",
            "item_id": item_id,
            "event_id": delete["event_id"],
        }
        assert create["previous_item_id"] == inner.items[0]["id"]
        assert create["item"]["content"] == [{"type": "output_text", "text": heard}]
        assert texts(inner.items) == ["Tell me a story.", heard]
        # its echoes and the inner's own end of the reply are not the client's
        await asyncio.sleep(0.1)
        while not engine._out.empty():
            seen.append(engine._out.get_nowait())
        types = [ev["type"] for ev in seen]
        assert types.count("response.done") == 1
        assert "conversation.item.deleted" not in types
        added = [ev for ev in seen if ev["type"] == "conversation.item.added"]
        assert [ev["item"]["id"] for ev in added].count(item_id) == 1
        assert_valid_ga((0.0, ev) for ev in seen)
    finally:
        await engine.close()


async def test_a_failing_tts_is_one_error_and_the_reply_goes_on_as_text():
    inner = ScriptedEngine([say("Hello there. It is a fine day today.")])
    engine = VoicedEngine(inner, FakeTTS(fail=True), voice="joe")
    events, seen = engine.events(), []
    try:
        await engine.send(user("Say hello."))
        await engine.send({"type": "response.create"})
        done = await until(events, "response.done", seen)
        errors = [ev for ev in seen if ev["type"] == "error"]
        assert [e["error"]["code"] for e in errors] == ["tts_failed"]
        assert done["response"]["status"] == "completed"
        transcript = done["response"]["output"][0]["content"][0]["transcript"]
        assert transcript == spoken_text(seen) == "Hello there. It is a fine day today."
        assert audio_bytes(seen) == 0
        assert_valid_ga((0.0, ev) for ev in seen)
    finally:
        await engine.close()


async def test_engine_openai_voiced_reports_its_cost_and_the_first_audio():
    """The wrapper around engine ``openai`` (over an in-process upstream): metrics stay whole."""
    connections: list[EngineUpstream] = []

    async def connect() -> EngineUpstream:
        connections.append(EngineUpstream(ScriptedEngine([say("Paris, of course.")])))
        return connections[-1]

    engine = VoicedEngine(OpenAIEngine(settings(), connect=connect), FakeTTS(), voice="joe")
    events, seen = engine.events(), []
    try:
        created = await until(events, "session.created", seen)
        assert created["session"]["output_modalities"] == ["audio"]
        await engine.send(user("What is the capital of France?"))
        await engine.send({"type": "response.create"})
        done = await until(events, "response.done", seen)
        metrics = await until(events, "voxgate.metrics", seen)
        upstream = connections[0].engine
        assert isinstance(upstream, ScriptedEngine)
        assert upstream.session["output_modalities"] == ["text"]
        assert done["response"]["output"][0]["content"][0]["type"] == "output_audio"
        assert metrics["response_id"] == done["response"]["id"]
        assert metrics["model"] == "gpt-realtime" and metrics["usage"]["total_tokens"] == 0
        assert 0 < metrics["metrics"]["first_audio_ms"] <= metrics["metrics"]["response_ms"]
        types = [ev["type"] for ev in seen]
        assert types.index("response.done") < types.index("voxgate.metrics")
        assert "session.updated" not in types
        assert_valid_ga((0.0, ev) for ev in seen)
    finally:
        await engine.close()


async def test_response_cancel_ends_the_spoken_reply_and_the_inner_one():
    inner = ScriptedEngine([say("Once upon a time there was a knight on a horse.", hold=True)])
    tts = FakeTTS()
    engine = VoicedEngine(inner, tts, voice="joe")
    events, seen = engine.events(), []
    try:
        await engine.send(user("Tell me a story."))
        await engine.send({"type": "response.create"})
        await until(events, "response.output_audio.delta", seen)
        await engine.send({"type": "response.cancel"})
        done = await until(events, "response.done", seen)
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"]["reason"] == "client_cancelled"
        assert tts.cancelled == 1
        assert inner.received[-1]["type"] == "response.cancel"  # the inner was still answering
        async with asyncio.timeout(5):
            while not inner.quiet:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        while not engine._out.empty():
            seen.append(engine._out.get_nowait())
        assert [ev["type"] for ev in seen].count("response.done") == 1
        assert_valid_ga((0.0, ev) for ev in seen)
    finally:
        await engine.close()


async def test_a_reply_cut_by_a_dropped_upstream_stops_speaking_and_is_asked_again():
    connections: list[EngineUpstream] = []
    scripts = [[say("Once upon a time there was a knight. " * 4, hold=True)], [say("Hello.")]]

    async def connect() -> EngineUpstream:
        connections.append(EngineUpstream(ScriptedEngine(scripts[len(connections)])))
        return connections[-1]

    engine = VoicedEngine(OpenAIEngine(settings(), connect=connect), FakeTTS(), voice="joe")
    events, seen = engine.events(), []
    try:
        await engine.send(user("Tell me a story."))
        await engine.send({"type": "response.create"})
        created = await until(events, "response.created", seen)
        await until(events, "response.output_audio.delta", seen)
        await connections[0].engine.close()  # the upstream goes away mid-reply
        failed = await until(events, "response.done", seen)
        assert failed["response"]["id"] == created["response"]["id"]
        assert failed["response"]["status"] == "failed"
        deleted = await until(events, "conversation.item.deleted", seen)
        mark = len(seen)
        again = await until(events, "response.created", seen)
        assert again["response"]["id"] != created["response"]["id"]
        done = await until(events, "response.done", seen)
        assert done["response"]["status"] == "completed"
        assert done["response"]["output"][0]["content"][0]["transcript"] == "Hello."
        stale = [ev for ev in seen[mark:] if ev.get("response_id") == created["response"]["id"]]
        assert not stale  # nothing of the cut reply after its end
        added = next(ev for ev in seen if ev["type"] == "response.output_item.added")
        assert deleted["item_id"] == added["item"]["id"]  # its partial message is gone
        assert_valid_ga((0.0, ev) for ev in seen)
    finally:
        await engine.close()


async def test_a_session_that_starts_in_text_is_voiced_once_it_asks_for_audio():
    inner = ScriptedEngine([say("In text."), say("Spoken now.")])
    engine = VoicedEngine(inner, FakeTTS(), voice="joe", output_modalities=["text"])
    events, seen = engine.events(), []
    try:
        created = await until(events, "session.created", seen)
        assert created["session"]["output_modalities"] == ["text"]
        await engine.send(user("Hi."))
        await engine.send({"type": "response.create"})
        done = await until(events, "response.done", seen)
        assert done["response"]["output"][0]["content"][0] == {
            "type": "output_text",
            "text": "In text.",
        }
        update = {
            "type": "session.update",
            "session": {"type": "realtime", "output_modalities": ["audio"]},
        }
        await engine.send(update)
        updated = await until(events, "session.updated", seen)
        assert updated["session"]["output_modalities"] == ["audio"]
        assert inner.session["output_modalities"] == ["text"]
        await engine.send({"type": "response.create"})
        done = await until(events, "response.done", seen)
        assert done["response"]["output"][0]["content"][0]["transcript"] == "Spoken now."
        assert audio_bytes(seen) == 2 * WORD_BYTES
        assert_valid_ga((0.0, ev) for ev in seen)
    finally:
        await engine.close()


async def test_a_reply_is_spoken_at_the_sessions_speed():
    inner = ScriptedEngine([say("Hello there."), say("Hello again.")])
    tts = FakeTTS()
    engine = VoicedEngine(inner, tts, voice="joe")
    events, seen = engine.events(), []
    try:
        await until(events, "session.created", seen)
        await engine.send(user("Say hello."))
        await engine.send({"type": "response.create"})
        await until(events, "response.done", seen)
        update = {"type": "realtime", "audio": {"output": {"speed": 1.25}}}
        await engine.send({"type": "session.update", "session": update})
        updated = await until(events, "session.updated", seen)
        assert updated["session"]["audio"]["output"]["speed"] == 1.25
        await engine.send({"type": "response.create"})
        await until(events, "response.done", seen)
        assert tts.speeds == [1.0, 1.25]
    finally:
        await engine.close()
