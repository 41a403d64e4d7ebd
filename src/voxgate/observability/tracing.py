"""OpenTelemetry spans per turn: session → turn → stt / llm / tts / tool (the ``otel`` extra).

Off unless asked for: a tracer provider handed to the app, ``otel_enabled``, or OpenTelemetry's
exporter variables (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_TRACES_EXPORTER``, ...). Nothing
here imports OpenTelemetry until then, and its SDK (the extra) only when no provider is given.
A turn's spans are made when the turn is over, from the instants the session kept
(``TurnTrace``), with their own start and end times: nothing is traced while audio flows.
The ``llm`` span runs to the first token and the ``tts`` span is the first phrase's synthesis:
the latencies a caller waits for.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

from voxgate import __version__
from voxgate.observability.observer import ObservedSession, SessionObserver
from voxgate.observability.turn import TurnTrace
from voxgate.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

log = logging.getLogger(__name__)

EXPORTER_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
)


def wanted(settings: Settings) -> bool:
    """Whether the deployment asks for traces: ``otel_enabled``, or OTel exporter variables."""
    if settings.otel_enabled:
        return True
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(os.environ.get(name) for name in EXPORTER_VARIABLES)


def tracing(settings: Settings, provider: TracerProvider | None = None) -> Tracing | None:
    """The app's tracing, or None when not asked for (or the ``otel`` extra is missing).

    ``provider``: spans go there (tests give an SDK provider with an in-memory exporter).
    Otherwise a provider the process already configured, else one made here that exports
    OTLP over HTTP as the ``OTEL_*`` variables say.
    """
    if provider is None and not wanted(settings):
        return None
    try:
        from opentelemetry import trace
    except ImportError:
        log.warning("traces asked for, but OpenTelemetry is missing: pip install 'voxgate[otel]'")
        return None
    owned = None
    if provider is None:
        provider = trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider):  # nobody configured one
            owned = provider = _otlp_provider()
            if provider is None:
                return None
    return Tracing(provider.get_tracer("voxgate", __version__), owned)


def _otlp_provider() -> TracerProvider | None:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "traces asked for, but the OpenTelemetry SDK or its OTLP exporter is missing: "
            "pip install 'voxgate[otel]'"
        )
        return None
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "voxgate"}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def _ns(instant: float) -> int:
    """A ``time.monotonic()`` instant as OpenTelemetry's epoch nanoseconds."""
    return time.time_ns() - int((time.monotonic() - instant) * 1e9)


class Tracing(SessionObserver):
    """A ``session`` span per session; a ``turn`` span under it per turn, with its stages."""

    def __init__(self, tracer: Tracer, owned: TracerProvider | None = None) -> None:
        self._tracer = tracer
        self._owned = owned  # made here: flushed and shut down on close
        self._sessions: dict[ObservedSession, Span] = {}

    def session_opened(self, session: ObservedSession) -> None:
        """Start its span."""
        self._sessions[session] = self._tracer.start_span(
            "session", attributes={"voxgate.session_id": session.id}
        )

    def session_closed(self, session: ObservedSession) -> None:
        """End its span."""
        span = self._sessions.pop(session, None)
        if span is not None:
            span.end()

    def turn(self, session: ObservedSession, trace: TurnTrace) -> None:
        """The turn's span and its stages', under the session's."""
        from opentelemetry.trace import set_span_in_context

        parent = self._sessions.get(session)
        stages = self._stages(trace)
        starts = [start for _, start, _, _ in stages]
        started = min([trace.speech_end_at or trace.started_at, *starts])
        attributes: dict[str, Any] = {"voxgate.session_id": trace.session_id}
        if trace.item_id is not None:
            attributes["voxgate.item_id"] = trace.item_id
        first = next((r.metrics for r in trace.responses), None)
        v2v = next(
            (m.voice_to_voice_ms for r in trace.responses if (m := r.metrics).voice_to_voice_ms),
            None,
        )
        if v2v is not None:
            attributes["voxgate.voice_to_voice_ms"] = v2v
        if first is not None and first.vad_delay_ms is not None:
            attributes["voxgate.vad_delay_ms"] = first.vad_delay_ms
        turn = self._tracer.start_span(
            "turn",
            context=set_span_in_context(parent) if parent is not None else None,
            start_time=_ns(started),
            attributes=attributes,
        )
        inside = set_span_in_context(turn)
        for name, start, end, stage_attributes in stages:
            span = self._tracer.start_span(
                name, context=inside, start_time=_ns(start), attributes=stage_attributes
            )
            span.end(end_time=_ns(max(end, start)))
        turn.end(end_time=_ns(max(trace.ended_at, started)))

    @staticmethod
    def _stages(trace: TurnTrace) -> list[tuple[str, float, float, dict[str, Any]]]:
        """(name, start, end, attributes) of each stage span the turn's figures allow."""
        stages: list[tuple[str, float, float, dict[str, Any]]] = []
        if trace.detected_at is not None and trace.transcript_at is not None:
            stt: dict[str, Any] = {}
            first = trace.responses[0].metrics if trace.responses else None
            if first is not None and first.stt_ms is not None:
                stt["voxgate.stt_ms"] = first.stt_ms
            stages.append(("stt", trace.detected_at, trace.transcript_at, stt))
        for response in trace.responses:
            m, start = response.metrics, response.started_at
            about: dict[str, Any] = {
                "voxgate.response_id": m.response_id,
                "voxgate.status": m.status,
                "voxgate.interrupted": m.interrupted,
            }
            if m.llm_first_token_ms is not None:
                tokens = m.tokens
                llm = {
                    **about,
                    "gen_ai.usage.input_tokens": tokens.input_text
                    + tokens.input_text_cached
                    + tokens.input_audio
                    + tokens.input_audio_cached,
                    "gen_ai.usage.output_tokens": tokens.output_text + tokens.output_audio,
                }
                if m.model is not None:
                    llm["gen_ai.request.model"] = m.model
                if m.cost_usd is not None:
                    llm["voxgate.cost_usd"] = m.cost_usd
                stages.append(("llm", start, start + m.llm_first_token_ms / 1000, llm))
            if m.tts_first_audio_ms is not None and m.first_audio_ms is not None:
                audio_at = start + m.first_audio_ms / 1000
                stages.append(("tts", audio_at - m.tts_first_audio_ms / 1000, audio_at, about))
        for call in trace.tools:
            tool = {"voxgate.tool": call.name, "voxgate.call_id": call.call_id}
            stages.append(
                ("tool", call.started_at, call.ended_at, {**tool, "voxgate.status": call.status})
            )
        return stages

    def close(self) -> None:
        """End the sessions' spans; a provider made here flushes and shuts down."""
        for span in self._sessions.values():
            span.end()
        self._sessions.clear()
        if self._owned is not None:
            shutdown = getattr(self._owned, "shutdown", None)
            if shutdown is not None:
                shutdown()
