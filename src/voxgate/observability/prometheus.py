"""``GET /metrics``: the server's figures in Prometheus's text format, one registry per app.

Latencies are observed once per response (``voxgate.metrics``), tools once per call, errors
once per ``error`` event, loop lag once per watchdog tick: nothing on the audio path. What is
live (sessions, participants, client queues, dropped deltas) is read when scraped.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from voxgate.observability.observer import ObservedSession, Participant, SessionObserver
from voxgate.observability.turn import ToolTiming, TurnMetrics

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The media type of ``render()``."""

LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics(SessionObserver):
    """The Prometheus side of a server: its own ``CollectorRegistry`` (apps never collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry

        def latency(name: str, what: str) -> Histogram:
            return Histogram(name, what, buckets=LATENCY_BUCKETS, registry=registry)

        self.voice_to_voice = latency(
            "voxgate_voice_to_voice_seconds",
            "End of the user's speech to the turn's first audio handed to the clients.",
        )
        self.vad_delay = latency(
            "voxgate_vad_delay_seconds", "End of the user's speech to its detection."
        )
        self.stt = latency(
            "voxgate_stt_finalize_seconds", "Detected end of speech (or commit) to the transcript."
        )
        self.llm = latency(
            "voxgate_llm_first_token_seconds", "A response's start to the model's first token."
        )
        self.tts = latency(
            "voxgate_tts_first_audio_seconds", "A response's first phrase to its first audio."
        )
        self.tools = Histogram(
            "voxgate_tool_seconds",
            "Tool calls run by the agent runtime, by tool and outcome.",
            ["tool", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.responses = Counter(
            "voxgate_responses", "Responses ended, by status.", ["status"], registry=registry
        )
        self.interruptions = Counter(
            "voxgate_interruptions",
            "Responses cancelled by the user speaking over them.",
            registry=registry,
        )
        self.false_interruptions = Counter(
            "voxgate_false_interruptions",
            "Sounds over a response that paused it and turned out not to interrupt.",
            registry=registry,
        )
        self.errors = Counter(
            "voxgate_errors", "error events sent to clients, by code.", ["code"], registry=registry
        )
        self.tokens = Counter(
            "voxgate_tokens",
            "Tokens of responses, by kind (input_text, input_text_cached, input_audio, "
            "input_audio_cached, output_text, output_audio).",
            ["kind"],
            registry=registry,
        )
        self.cost = Counter(
            "voxgate_cost_usd", "Cost of responses from the price table, USD.", registry=registry
        )
        self.loop_lag = Histogram(
            "voxgate_event_loop_lag_seconds",
            "How late the event loop ran a callback that was due (one stall delays every session).",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        ProcessCollector(registry=registry)
        self._sessions: dict[ObservedSession, set[Participant]] = {}
        self._dropped_gone = 0  # by participants no longer counted live
        registry.register(_Live(self))

    def render(self) -> bytes:
        """The text exposition of every metric."""
        return generate_latest(self.registry)

    def loop_lagged(self, lag_ms: float) -> None:
        """One watchdog measurement (``LoopLagWatchdog(on_lag=...)``)."""
        self.loop_lag.observe(lag_ms / 1000)

    # -- SessionObserver -------------------------------------------------------------------

    def session_opened(self, session: ObservedSession) -> None:
        """Count it live."""
        self._sessions.setdefault(session, set())

    def session_closed(self, session: ObservedSession) -> None:
        """No longer live; its participants' drops stay counted."""
        for participant in self._sessions.pop(session, set()):
            self._dropped_gone += participant.dropped

    def joined(self, session: ObservedSession, participant: Participant) -> None:
        """Count it live."""
        if session in self._sessions:
            self._sessions[session].add(participant)

    def left(self, session: ObservedSession, participant: Participant) -> None:
        """No longer live; its drops stay counted."""
        participants = self._sessions.get(session)
        if participants is not None and participant in participants:
            participants.discard(participant)
            self._dropped_gone += participant.dropped

    def response(self, session: ObservedSession, metrics: TurnMetrics) -> None:
        """Observe a response's latencies, tokens and cost."""
        self.responses.labels(metrics.status).inc()
        if metrics.interrupted:
            self.interruptions.inc()
        if metrics.false_interruptions:
            self.false_interruptions.inc(metrics.false_interruptions)
        for histogram, ms in (
            (self.voice_to_voice, metrics.voice_to_voice_ms),
            (self.vad_delay, metrics.vad_delay_ms),
            (self.stt, metrics.stt_finalize_ms),
            (self.llm, metrics.llm_first_token_ms),
            (self.tts, metrics.tts_first_audio_ms),
        ):
            if ms is not None:
                histogram.observe(max(ms, 0.0) / 1000)
        for kind, count in metrics.tokens.as_dict().items():
            if count:
                self.tokens.labels(kind).inc(count)
        if metrics.cost_usd:
            self.cost.inc(metrics.cost_usd)

    def tool(self, session: ObservedSession, call: ToolTiming) -> None:
        """Observe a tool call's time."""
        seconds = max(call.ended_at - call.started_at, 0.0)
        self.tools.labels(call.name, call.status).observe(seconds)

    def error(self, session: ObservedSession, code: str) -> None:
        """Count an error event."""
        self.errors.labels(code or "unknown").inc()

    # -- live, when scraped ----------------------------------------------------------------

    def live(self) -> Iterator[Metric]:
        """Sessions, participants, client queues and dropped deltas as they are now."""
        participants = [p for group in self._sessions.values() for p in group]
        depths = [p.pending for p in participants]
        yield GaugeMetricFamily(
            "voxgate_active_sessions", "Sessions open now.", value=len(self._sessions)
        )
        yield GaugeMetricFamily(
            "voxgate_participants", "Clients in sessions now.", value=len(participants)
        )
        yield GaugeMetricFamily(
            "voxgate_client_queue_events",
            "Events waiting for delivery to clients, all clients together.",
            value=sum(depths),
        )
        yield GaugeMetricFamily(
            "voxgate_client_queue_events_max",
            "Events waiting for delivery to the client furthest behind.",
            value=max(depths, default=0),
        )
        yield CounterMetricFamily(
            "voxgate_dropped_deltas",
            "Deltas (and error events past the cap) shed for clients too slow to read them.",
            value=self._dropped_gone + sum(p.dropped for p in participants),
        )


class _Live(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self._metrics.live()
