"""OpenTelemetry: off unless asked for (and then never imported); spans nest session → turn →
stt / llm / tts / tool, in the SDK's in-memory exporter, from figures and from a real server."""

import asyncio
import os
import subprocess
import sys
import time
import uuid

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.conftest import serve_app, silence
from voxgate.client import VoiceClient, spoken_reply_done
from voxgate.observability.tracing import Tracing, tracing, wanted
from voxgate.observability.turn import ResponseTrace, ToolTiming, TurnMetrics, TurnTrace
from voxgate.server.app import create_app
from voxgate.settings import Settings


class Named:
    id = "sess_1"


def provider_and_spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_off_unless_asked_for(monkeypatch):
    for name in (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_TRACES_EXPORTER",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert not wanted(settings) and tracing(settings) is None
    assert wanted(settings.model_copy(update={"otel_enabled": True}))
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert wanted(settings)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert not wanted(settings)


def test_without_the_otel_extra_a_server_runs_and_traces_are_declined():
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    code = (
        "import sys\n"
        "class NoOtel:\n"  # as if the extra were not installed (FastAPI needs the API)
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.startswith(('opentelemetry.sdk', 'opentelemetry.exporter')):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, NoOtel())\n"
        "from voxgate.server.app import create_app\n"
        "from voxgate.settings import Settings\n"
        "app = create_app(Settings(_env_file=None, engine='loopback', agents='none'))\n"
        "assert app.state.gateway.tracing is None\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry.sdk')]\n"
        "wanted = Settings(_env_file=None, engine='loopback', agents='none', otel_enabled=True)\n"
        "assert create_app(wanted).state.gateway.tracing is None\n"
        "print('served')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "served" in done.stdout and "pip install 'voxgate[otel]'" in done.stderr


def test_a_turns_spans_nest_under_its_session():
    provider, exporter = provider_and_spans()
    traces = tracing(Settings(_env_file=None), provider)  # type: ignore[call-arg]
    assert isinstance(traces, Tracing)
    session = Named()
    traces.session_opened(session)
    t0 = time.monotonic()
    call = TurnMetrics(
        "sess_1", "resp_call", item_id="item_1", llm_first_token_ms=200, vad_delay_ms=300
    )
    say = TurnMetrics(
        "sess_1",
        "resp_say",
        item_id="item_1",
        llm_first_token_ms=150,
        tts_first_audio_ms=80,
        first_audio_ms=300,
        voice_to_voice_ms=1400,
    )
    trace = TurnTrace(
        "sess_1",
        "item_1",
        started_at=t0,
        speech_end_at=t0 - 0.3,
        detected_at=t0,
        transcript_at=t0 + 0.1,
        responses=[
            ResponseTrace(call, t0 + 0.1, t0 + 0.4),
            ResponseTrace(say, t0 + 0.7, t0 + 2.0, first_audio_at=t0 + 1.0),
        ],
        tools=[ToolTiming("get_weather", "call_1", "ok", t0 + 0.4, t0 + 0.6)],
    )
    traces.turn(session, trace)
    traces.session_closed(session)
    spans = {s.name: s for s in exporter.get_finished_spans() if s.name in ("session", "turn")}
    stages = [s for s in exporter.get_finished_spans() if s.name not in ("session", "turn")]
    assert sorted(s.name for s in stages) == ["llm", "llm", "stt", "tool", "tts"]
    session_span, turn = spans["session"], spans["turn"]
    assert session_span.parent is None
    assert turn.parent.span_id == session_span.context.span_id
    assert turn.context.trace_id == session_span.context.trace_id
    assert all(s.parent.span_id == turn.context.span_id for s in stages)
    assert turn.attributes["voxgate.voice_to_voice_ms"] == 1400
    assert turn.start_time <= min(s.start_time for s in stages)
    assert turn.end_time >= max(s.end_time for s in stages)
    for s in stages:
        assert s.start_time <= s.end_time
    tool = next(s for s in stages if s.name == "tool")
    assert tool.attributes["voxgate.tool"] == "get_weather"


@pytest.mark.e2e
async def test_a_spoken_turn_on_a_server_is_traced(settings, models, speech):
    provider, exporter = provider_and_spans()
    app = create_app(  # no grace period: the session ends with its client
        settings.model_copy(update={"agents": "none", "session_grace_seconds": 0}),
        models=models,
        tracer_provider=provider,
    )
    async with serve_app(app) as port:
        async with VoiceClient(f"ws://127.0.0.1:{port}/ws/{uuid.uuid4().hex}") as client:
            await client.stream(
                silence(400) + speech("What is the capital of France?") + silence(1200)
            )
            await client.wait_for(spoken_reply_done, timeout=90)
            await client.wait_for("voxgate.metrics", timeout=10)
        # the client left: the session closed, its last turn and its span ended
        deadline = time.monotonic() + 10
        while not [s for s in exporter.get_finished_spans() if s.name == "session"]:
            assert time.monotonic() < deadline, "the session span never ended"
            await _sleep()
    spans = exporter.get_finished_spans()
    [session_span] = [s for s in spans if s.name == "session"]
    [turn] = [s for s in spans if s.name == "turn"]
    assert turn.parent.span_id == session_span.context.span_id
    children = {
        s.name for s in spans if s.parent is not None and s.parent.span_id == turn.context.span_id
    }
    assert {"stt", "llm", "tts"} <= children
    assert (
        turn.attributes["voxgate.voice_to_voice_ms"] > turn.attributes["voxgate.vad_delay_ms"] > 0
    )


async def _sleep() -> None:
    await asyncio.sleep(0.05)
