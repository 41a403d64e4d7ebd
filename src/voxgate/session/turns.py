"""A session's turns measured: every engine's responses get one ``voxgate.metrics`` each.

The tracker follows what the session sends its clients and keeps a few instants per turn: the
end of speech detected, the transcript, each response's start, first audio and end, each tool
call. Engines report what only they know in a ``voxgate.metrics`` of their own after a
``response.done`` (time to the model's first token and to the first audio, the TTS's, the
STT's own time, the VAD's delay, cost); the tracker merges it with what it saw into one
``TurnMetrics`` and sends that in its place. A response whose engine reports nothing is sent as
the next one starts, or given to the observers as the session closes. Work per event is a
dictionary lookup; an audio delta only marks its response's first audio.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from voxgate.observability.observer import ObservedSession, SessionObserver
from voxgate.observability.turn import (
    METRICS,
    TIMINGS,
    ResponseTrace,
    Tokens,
    ToolTiming,
    TurnMetrics,
    TurnTrace,
)
from voxgate.protocol import Event

log = logging.getLogger(__name__)

ENGINE_FIGURES = frozenset(TIMINGS) - {"stt_finalize_ms", "voice_to_voice_ms", "tool_ms"}
"""What an engine's own ``voxgate.metrics`` may tell; the rest is measured here."""
_INPUT_ROLES = ("user", "system")


@dataclass
class _Turn:
    trace: TurnTrace
    vad_delay_ms: float | None = None
    stt_told: bool = False  # stt_finalize_ms went out
    heard: bool = False  # voice_to_voice_ms went out
    tool_ms: float = 0.0  # in tools since the turn's last response started
    tools: dict[str, tuple[str, float]] = field(default_factory=dict)  # call_id -> name, start


@dataclass
class _Response:
    metrics: TurnMetrics
    turn: _Turn | None
    created_at: float
    first_audio_at: float | None = None
    done_at: float | None = None


class TurnTracker:
    """Follows one session's events; ``observe`` says what the clients get instead of each."""

    def __init__(self, session: ObservedSession, observer: SessionObserver | None = None) -> None:
        self._session = session
        self._observer = observer
        self._turn: _Turn | None = None
        self._stopped: tuple[str | None, float] | None = None  # speech_stopped: item, instant
        self._live: dict[str, _Response] = {}  # created, not done
        self._done: dict[str, _Response] = {}  # done, the engine's report awaited
        self._current: _Response | None = None  # the latest response created
        self._handlers: dict[str, Callable[[Event, float], Sequence[Event]]] = {
            "input_audio_buffer.speech_stopped": self._on_speech_stopped,
            "input_audio_buffer.committed": self._on_committed,
            "conversation.item.added": self._on_item_added,
            "conversation.item.input_audio_transcription.completed": self._on_transcript,
            "response.created": self._on_response_created,
            "response.done": self._on_response_done,
            "voxgate.response.resumed": self._on_resumed,
            METRICS: self._on_engine_metrics,
            "error": self._on_error,
        }

    def observe(self, ev: Event) -> Sequence[Event]:
        """One engine event; returns what the clients get in its place (itself, mostly)."""
        type_ = ev["type"]
        if type_ == "response.output_audio.delta":
            current = self._current
            if current is not None and current.first_audio_at is None:
                current.first_audio_at = time.monotonic()
            return (ev,)
        handler = self._handlers.get(type_)
        if handler is None:
            return (ev,)
        try:
            return handler(ev, time.monotonic())
        except Exception:  # a figure lost, never an event
            log.exception("session %s: measuring %s failed", self._session.id, type_)
            return (ev,) if type_ != METRICS else ()

    def broadcast(self, ev: Event) -> None:
        """One event of voxgate's own sent to every client: tool calls and errors count."""
        type_ = ev["type"]
        if type_ == "voxgate.tool.started":
            if self._turn is not None:
                self._turn.tools[str(ev.get("call_id"))] = (str(ev.get("name")), time.monotonic())
        elif type_ == "voxgate.tool.completed":
            self._on_tool_completed(ev)
        elif type_ == "error":
            self._on_error(ev, time.monotonic())

    def refused(self, ev: Event) -> None:
        """An ``error`` for one client only (its own bad input): counted like the others."""
        self._on_error(ev, time.monotonic())

    def close(self) -> None:
        """The session ends: what is still open goes to the observers."""
        for response in [*self._done.values(), *self._live.values()]:
            self._finish(response, None)
        self._done.clear()
        self._live.clear()
        self._end_turn()

    # -- the user's turn -------------------------------------------------------------------

    def _on_speech_stopped(self, ev: Event, now: float) -> Sequence[Event]:
        self._stopped = (ev.get("item_id"), now)
        return (ev,)

    def _on_committed(self, ev: Event, now: float) -> Sequence[Event]:
        item_id = ev.get("item_id")
        detected = now
        if self._stopped is not None and self._stopped[0] == item_id:
            detected = self._stopped[1]
        self._stopped = None
        self._begin_turn(item_id, now, detected_at=detected)
        return (ev,)

    def _on_item_added(self, ev: Event, now: float) -> Sequence[Event]:
        item = ev.get("item") or {}
        typed = item.get("type") == "message" and item.get("role") in _INPUT_ROLES
        if typed and (self._turn is None or self._turn.trace.item_id != item.get("id")):
            self._begin_turn(item.get("id"), now, detected_at=None)
        return (ev,)

    def _on_transcript(self, ev: Event, now: float) -> Sequence[Event]:
        turn = self._turn
        item_id = ev.get("item_id")
        if turn is not None and turn.trace.item_id == item_id and turn.trace.transcript_at is None:
            turn.trace.transcript_at = now
        return (ev,)

    def _begin_turn(self, item_id: str | None, now: float, *, detected_at: float | None) -> None:
        self._end_turn()
        trace = TurnTrace(self._session.id, item_id, started_at=now, detected_at=detected_at)
        self._turn = _Turn(trace)

    def _end_turn(self) -> None:
        turn, self._turn = self._turn, None
        if turn is not None and self._observer is not None:
            self._tell(self._observer.turn, self._session, turn.trace)

    def _on_tool_completed(self, ev: Event) -> None:
        now = time.monotonic()
        call_id = str(ev.get("call_id"))
        duration_ms = ev.get("duration_ms")
        known = self._turn.tools.pop(call_id, None) if self._turn is not None else None
        if known is not None:
            started = known[1]
        elif isinstance(duration_ms, int | float):
            started = now - duration_ms / 1000
        else:
            started = now
        call = ToolTiming(str(ev.get("name")), call_id, str(ev.get("status")), started, now)
        if self._turn is not None:
            self._turn.trace.tools.append(call)
            self._turn.tool_ms += (now - started) * 1000
        if self._observer is not None:
            self._tell(self._observer.tool, self._session, call)

    # -- responses -------------------------------------------------------------------------

    def _on_response_created(self, ev: Event, now: float) -> Sequence[Event]:
        unreported = [self._finish(r, None) for r in self._done.values()]
        self._done.clear()
        response_id = str(ev["response"].get("id"))
        turn = self._turn
        item_id = turn.trace.item_id if turn else None
        metrics = TurnMetrics(self._session.id, response_id, item_id=item_id, status="in_progress")
        if turn is not None and turn.tool_ms:
            metrics.tool_ms, turn.tool_ms = turn.tool_ms, 0.0
        self._current = self._live[response_id] = _Response(metrics, turn, created_at=now)
        return (*unreported, ev)

    def _on_response_done(self, ev: Event, now: float) -> Sequence[Event]:
        response = ev["response"]
        response_id = str(response.get("id"))
        found = self._live.pop(response_id, None)
        if found is None:  # ended without a response.created (an upstream gone mid-way)
            metrics = TurnMetrics(self._session.id, response_id)
            found = _Response(metrics, self._turn, created_at=now)
        if self._current is found:
            self._current = None
        found.done_at = now
        metrics = found.metrics
        metrics.status = str(response.get("status") or "completed")
        metrics.ended_at = time.time()
        details = response.get("status_details") or {}
        metrics.interrupted = (
            metrics.status == "cancelled" and details.get("reason") == "turn_detected"
        )
        metrics.tokens = Tokens.from_usage(response.get("usage"))
        self._done[response_id] = found
        return (ev,)

    def _on_resumed(self, ev: Event, now: float) -> Sequence[Event]:
        found = self._live.get(str(ev.get("response_id")))
        if found is not None:
            found.metrics.false_interruptions += 1
        return (ev,)

    def _on_engine_metrics(self, ev: Event, now: float) -> Sequence[Event]:
        found = self._done.pop(str(ev.get("response_id")), None)
        if found is None:
            log.debug("session %s: a report for no response awaiting one", self._session.id)
            return ()
        return (self._finish(found, ev),)

    def _on_error(self, ev: Event, now: float) -> Sequence[Event]:
        if self._observer is not None:
            code = str((ev.get("error") or {}).get("code") or "unknown")
            self._tell(self._observer.error, self._session, code)
        return (ev,)

    def _finish(self, response: _Response, report: Event | None) -> Event:
        """The response's figures, merged with the engine's ``report``; observers told."""
        metrics = response.metrics
        if report is not None:
            _merge(metrics, report)
        done_at = response.done_at if response.done_at is not None else time.monotonic()
        started_at = response.created_at
        if metrics.response_ms is not None:
            started_at = min(started_at, done_at - metrics.response_ms / 1000)
        elif response.done_at is not None:
            metrics.response_ms = (done_at - response.created_at) * 1000
        turn = response.turn
        if turn is not None:
            self._turn_figures(turn, response)
            turn.trace.responses.append(
                ResponseTrace(metrics, started_at, done_at, response.first_audio_at)
            )
        if self._observer is not None:
            self._tell(self._observer.response, self._session, metrics)
        return metrics.to_event()

    @staticmethod
    def _turn_figures(turn: _Turn, response: _Response) -> None:
        """The turn's own figures go out once each, on the first response that has them."""
        metrics, trace = response.metrics, turn.trace
        if metrics.vad_delay_ms is not None:
            if turn.vad_delay_ms is None:
                turn.vad_delay_ms = metrics.vad_delay_ms
            else:
                metrics.vad_delay_ms = None  # said already
        if trace.detected_at is None:
            return
        if turn.vad_delay_ms is not None:
            trace.speech_end_at = trace.detected_at - turn.vad_delay_ms / 1000
        if not turn.stt_told and trace.transcript_at is not None:
            turn.stt_told = True
            metrics.stt_finalize_ms = (trace.transcript_at - trace.detected_at) * 1000
        if not turn.heard and response.first_audio_at is not None:
            turn.heard = True
            waited = (response.first_audio_at - trace.detected_at) * 1000
            metrics.voice_to_voice_ms = waited + (turn.vad_delay_ms or 0.0)

    def _tell(self, call: Callable[..., None], *args: Any) -> None:
        try:
            call(*args)
        except Exception:
            log.exception("session %s: an observer failed", self._session.id)


def _merge(metrics: TurnMetrics, report: Event) -> None:
    """An engine's own ``voxgate.metrics``: its figures, model and cost."""
    figures = report.get("metrics") or {}
    for name, value in figures.items():
        if name in ENGINE_FIGURES and isinstance(value, int | float):
            setattr(metrics, name, float(value))
    probability = figures.get("end_of_turn_probability")
    if isinstance(probability, int | float):
        metrics.end_of_turn_probability = float(probability)
    if isinstance(model := report.get("model"), str):
        metrics.model = model
    if isinstance(cost := report.get("cost_usd"), int | float):
        metrics.cost_usd = float(cost)
