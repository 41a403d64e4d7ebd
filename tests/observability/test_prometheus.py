"""Prometheus: a registry per app; latencies, tools, tokens, cost, errors observed; what is live
(sessions, participants, client queues, dropped deltas) read when scraped."""

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from voxgate.observability import ToolTiming, TurnMetrics
from voxgate.observability.prometheus import Metrics


@dataclass(eq=False)
class Session:
    id: str


@dataclass(eq=False)
class Client:
    pending: int = 0
    dropped: int = 0


def scrape(metrics: Metrics) -> dict[str, float]:
    """Sample name{labels} → value."""
    samples = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()) if k != "le")
            if "le" in s.labels:
                continue
            samples[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return samples


def test_responses_tools_and_errors_are_observed():
    metrics = Metrics()
    session = Session("s1")
    turn = TurnMetrics(
        "s1",
        "r1",
        interrupted=True,
        status="cancelled",
        voice_to_voice_ms=800,
        vad_delay_ms=300,
        stt_finalize_ms=120,
        llm_first_token_ms=200,
        tts_first_audio_ms=90,
        cost_usd=0.25,
    )
    turn.tokens.output_audio = 40
    metrics.response(session, turn)
    metrics.response(session, TurnMetrics("s1", "r2", false_interruptions=2))
    metrics.tool(session, ToolTiming("get_weather", "c1", "ok", 10.0, 10.5))
    metrics.error(session, "invalid_event")
    metrics.error(session, "invalid_event")
    metrics.loop_lagged(3.0)
    s = scrape(metrics)
    assert s["voxgate_voice_to_voice_seconds_count"] == 1
    assert s["voxgate_voice_to_voice_seconds_sum"] == 0.8
    for name in ("vad_delay", "stt_finalize", "llm_first_token", "tts_first_audio"):
        assert s[f"voxgate_{name}_seconds_count"] == 1, name
    assert s["voxgate_tool_seconds_count{status=ok,tool=get_weather}"] == 1
    assert s["voxgate_tool_seconds_sum{status=ok,tool=get_weather}"] == 0.5
    assert s["voxgate_responses_total{status=cancelled}"] == 1
    assert s["voxgate_responses_total{status=completed}"] == 1
    assert s["voxgate_interruptions_total"] == 1 and s["voxgate_false_interruptions_total"] == 2
    assert s["voxgate_errors_total{code=invalid_event}"] == 2
    assert s["voxgate_tokens_total{kind=output_audio}"] == 40
    assert s["voxgate_cost_usd_total"] == 0.25
    assert s["voxgate_event_loop_lag_seconds_count"] == 1


def test_live_figures_are_read_when_scraped_and_drops_stay_counted():
    metrics = Metrics()
    one, two = Session("same-id"), Session("same-id")  # an id reused while the first closes
    slow, quick, other = Client(pending=30, dropped=5), Client(pending=2), Client(dropped=1)
    metrics.session_opened(one)
    metrics.session_opened(two)
    metrics.joined(one, slow)
    metrics.joined(one, quick)
    metrics.joined(two, other)
    s = scrape(metrics)
    assert s["voxgate_active_sessions"] == 2 and s["voxgate_participants"] == 3
    assert s["voxgate_client_queue_events"] == 32 and s["voxgate_client_queue_events_max"] == 30
    assert s["voxgate_dropped_deltas_total"] == 6
    slow.dropped = 7
    metrics.left(one, slow)
    metrics.session_closed(two)
    metrics.left(two, other)  # after its session closed: counted once
    s = scrape(metrics)
    assert s["voxgate_active_sessions"] == 1 and s["voxgate_participants"] == 1
    assert s["voxgate_client_queue_events_max"] == 2
    assert s["voxgate_dropped_deltas_total"] == 8


def test_two_apps_have_registries_of_their_own():
    first, second = Metrics(), Metrics()
    first.error(Session("s"), "x")
    assert "voxgate_errors_total{code=x}" in scrape(first)
    assert "voxgate_errors_total{code=x}" not in scrape(second)
    assert "process_resident_memory_bytes" in scrape(second)
