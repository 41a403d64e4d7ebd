"""The turn tracker: every response gets one ``voxgate.metrics`` in the documented shape, the
engine's own report merged in, the turn's figures once; observers hear each response, tool and
error. The end-to-end test measures a real spoken conversation on the offline engine."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import pytest

from tests.conftest import silence
from voxgate.client import VoiceClient, spoken_reply_done
from voxgate.observability import SessionObserver, ToolTiming, TurnMetrics, TurnTrace
from voxgate.protocol import Event, error_event, event
from voxgate.session.turns import TurnTracker


@dataclass(eq=False)
class Named:
    id: str = "sess_1"


@dataclass
class Heard(SessionObserver):
    responses: list[TurnMetrics] = field(default_factory=list)
    tools: list[ToolTiming] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    turns: list[TurnTrace] = field(default_factory=list)

    def response(self, session, metrics):
        self.responses.append(metrics)

    def tool(self, session, call):
        self.tools.append(call)

    def error(self, session, code):
        self.errors.append(code)

    def turn(self, session, trace):
        self.turns.append(trace)


def created(rid: str) -> Event:
    return event("response.created", response={"id": rid, "status": "in_progress"})


def done(rid: str, status: str = "completed", reason: str | None = None, **usage: int) -> Event:
    response = {"id": rid, "status": status, "usage": usage or None}
    if reason:
        response["status_details"] = {"type": status, "reason": reason}
    return event("response.done", response=response)


def report(rid: str, **metrics: float) -> Event:
    return event("voxgate.metrics", response_id=rid, metrics=metrics, cost_usd=0.0)


def spoken_turn(item: str) -> list[Event]:
    return [
        event("input_audio_buffer.speech_stopped", audio_end_ms=1800, item_id=item),
        event("input_audio_buffer.committed", item_id=item, previous_item_id=None),
        event("conversation.item.added", item={"id": item, "type": "message", "role": "user"}),
        event("conversation.item.input_audio_transcription.completed", item_id=item),
    ]


def feed(tracker: TurnTracker, events: list[Event]) -> list[Event]:
    out: list[Event] = []
    for ev in events:
        out.extend(tracker.observe(ev))
        time.sleep(0.002)  # instants apart, so every figure is measured, not zero
    return out


def test_a_spoken_turn_gets_one_report_with_the_engines_figures_and_its_own():
    heard = Heard()
    tracker = TurnTracker(Named(), heard)
    out = feed(
        tracker,
        [
            *spoken_turn("item_u1"),
            created("resp_1"),
            event("response.output_audio.delta", response_id="resp_1", delta=b"\0\0"),
            event("response.output_audio.delta", response_id="resp_1", delta=b"\0\0"),
            done("resp_1", input_tokens=40, output_tokens=9),
            report("resp_1", vad_delay_ms=300.0, stt_ms=80.0, llm_first_token_ms=120.0),
        ],
    )
    reports = [ev for ev in out if ev["type"] == "voxgate.metrics"]
    assert len(reports) == 1 and out[-1] is reports[0]  # in the engine's report's place
    [ev] = reports
    assert ev["response_id"] == "resp_1" and ev["item_id"] == "item_u1"
    assert ev["status"] == "completed" and ev["interrupted"] is False
    m = ev["metrics"]
    assert m["vad_delay_ms"] == 300.0 and m["stt_ms"] == 80.0 and m["llm_first_token_ms"] == 120.0
    assert m["stt_finalize_ms"] > 0
    assert m["voice_to_voice_ms"] > m["vad_delay_ms"]  # detection, then the audio, came later
    assert m["response_ms"] > 0
    assert ev["tokens"] == {
        "input_text": 40,
        "input_text_cached": 0,
        "input_audio": 0,
        "input_audio_cached": 0,
        "output_text": 9,
        "output_audio": 0,
    }
    assert ev["cost_usd"] == 0.0
    assert heard.responses[0].voice_to_voice_ms == pytest.approx(m["voice_to_voice_ms"], abs=0.1)
    tracker.close()
    [trace] = heard.turns
    assert trace.item_id == "item_u1" and len(trace.responses) == 1
    assert trace.speech_end_at < trace.detected_at < trace.transcript_at <= trace.ended_at


def test_a_tool_turn_puts_tool_time_on_the_answer_and_voice_to_voice_on_its_first_audio():
    heard = Heard()
    tracker = TurnTracker(Named(), heard)
    out = feed(
        tracker,
        [
            *spoken_turn("item_u1"),
            created("resp_call"),
            done("resp_call"),
            report("resp_call", vad_delay_ms=250.0),
        ],
    )
    tracker.broadcast(event("voxgate.tool.started", name="get_weather", call_id="call_1"))
    time.sleep(0.01)
    tracker.broadcast(
        event("voxgate.tool.completed", name="get_weather", call_id="call_1", status="ok")
    )
    out += feed(
        tracker,
        [
            created("resp_say"),
            event("response.output_audio.delta", response_id="resp_say", delta=b"\0\0"),
            done("resp_say"),
            report("resp_say"),
        ],
    )
    call, say = (ev["metrics"] for ev in out if ev["type"] == "voxgate.metrics")
    assert call["vad_delay_ms"] == 250.0 and "voice_to_voice_ms" not in call
    assert "tool_ms" not in call and say["tool_ms"] >= 10
    assert say["voice_to_voice_ms"] > 250.0 + say["tool_ms"]
    assert "vad_delay_ms" not in say and "stt_finalize_ms" not in say  # the turn's, said once
    [tool] = heard.tools
    assert (tool.name, tool.status) == ("get_weather", "ok") and tool.ended_at > tool.started_at


def test_interruptions_errors_and_an_engine_that_reports_nothing():
    heard = Heard()
    tracker = TurnTracker(Named(), heard)
    out = feed(
        tracker,
        [
            event(
                "conversation.item.added", item={"id": "item_t", "type": "message", "role": "user"}
            ),
            created("resp_1"),
            event("voxgate.response.resumed", response_id="resp_1", audio_start_ms=400),
            done("resp_1", "cancelled", "turn_detected"),
            error_event("bad", code="invalid_event"),
            created("resp_2"),  # no report came for resp_1: it goes out now
        ],
    )
    types = [ev["type"] for ev in out]
    assert types[-2:] == ["voxgate.metrics", "response.created"]
    first = out[-2]
    assert first["interrupted"] is True and first["false_interruptions"] == 1
    assert first["status"] == "cancelled" and first["item_id"] == "item_t"
    assert "voice_to_voice_ms" not in first["metrics"] and "stt_finalize_ms" not in first["metrics"]
    tracker.refused(error_event("too big", code="audio_frame_too_large"))
    assert heard.errors == ["invalid_event", "audio_frame_too_large"]
    assert tracker.observe(report("resp_unknown")) == ()  # a stray report is not passed on
    tracker.close()  # resp_2 never ended: its figures still reach the observers
    assert [m.response_id for m in heard.responses] == ["resp_1", "resp_2"]
    assert heard.responses[1].status == "in_progress"


@pytest.mark.e2e
async def test_every_turn_of_a_spoken_conversation_is_measured(server_url, speech):
    """Offline engine over /ws, demo agents: a tool turn, a plain spoken turn, a typed turn."""
    async with VoiceClient(f"{server_url}/ws/{uuid.uuid4().hex}") as client:
        turns = []
        for words in ("What is the weather in Paris?", "What is the capital of France?"):
            mark = len(client.received.events)
            await client.stream(silence(400) + speech(words) + silence(1200))
            _, committed = await client.wait_for("input_audio_buffer.committed", after=mark)
            _, last = await client.wait_for(spoken_reply_done, after=mark, timeout=90)
            await client.wait_for(reports_on(last), after=mark, timeout=10)
            turns.append((committed["item_id"], client.received.events[mark:]))
        mark = len(client.received.events)
        await client.send_json({"type": "text", "text": "Say hello to me."})
        _, last = await client.wait_for(spoken_reply_done, after=mark, timeout=60)
        await client.wait_for(reports_on(last), after=mark, timeout=10)
        typed_events = client.received.events[mark:]
    for item_id, events in turns:
        reports = check_one_report_per_response(events)
        assert {r["item_id"] for r in reports} == {item_id}
        first, spoken = reports[0]["metrics"], reports[-1]["metrics"]
        # the silence window the local VAD waited through; end of speech → transcript
        assert 0 < first["vad_delay_ms"] < 3000 and first["stt_finalize_ms"] >= 0
        assert first["stt_ms"] > 0 and first["llm_first_token_ms"] > 0
        assert spoken["voice_to_voice_ms"] > first["vad_delay_ms"]
        assert 0 < spoken["tts_first_audio_ms"] <= spoken["first_audio_ms"] <= spoken["response_ms"]
        assert all(r["cost_usd"] == 0.0 for r in reports)  # the offline engine
        assert sum(r["tokens"]["output_text"] for r in reports) > 0
        assert sum("voice_to_voice_ms" in r["metrics"] for r in reports) == 1
    tool_turn = check_one_report_per_response(turns[0][1])
    assert len(tool_turn) == 2 and tool_turn[1]["metrics"]["tool_ms"] > 0  # get_weather ran
    [typed] = check_one_report_per_response(typed_events)
    user = next(
        ev for _, ev in typed_events if ev["type"] == "conversation.item.added"
    )  # the typed item
    assert typed["item_id"] == user["item"]["id"]
    assert typed["metrics"]["llm_first_token_ms"] > 0 and typed["metrics"]["first_audio_ms"] > 0
    assert not {"vad_delay_ms", "stt_finalize_ms", "voice_to_voice_ms"} & set(typed["metrics"])


def reports_on(done: Event):
    rid = done["response"]["id"]
    return lambda ev: ev["type"] == "voxgate.metrics" and ev["response_id"] == rid


def check_one_report_per_response(events: list[tuple[float, Event]]) -> list[Event]:
    """Each response.done is followed by exactly one voxgate.metrics of its response."""
    types = [ev for _, ev in events]
    dones = [ev["response"]["id"] for ev in types if ev["type"] == "response.done"]
    reports = [ev for ev in types if ev["type"] == "voxgate.metrics"]
    assert [r["response_id"] for r in reports] == dones
    for r in reports:
        after = next(i for i, ev in enumerate(types) if ev is r)
        ended = next(
            i
            for i, ev in enumerate(types)
            if ev["type"] == "response.done" and ev["response"]["id"] == r["response_id"]
        )
        assert ended < after
        assert set(r) >= {"response_id", "item_id", "status", "metrics", "tokens", "cost_usd"}
    return reports
