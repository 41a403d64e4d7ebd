"""One response's figures, and those of the user turn it answers: what ``voxgate.metrics`` says.

``TurnMetrics`` is the one shape of a turn's measurements: the session builds it for every
engine (``session/turns.py``), sends it live as ``voxgate.metrics`` (``to_event``), gives it to
the observers (Prometheus, OpenTelemetry) and a recorder may store it as it is (``record``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voxgate.protocol import Event, event

METRICS = "voxgate.metrics"
"""The event type."""

TIMINGS = (
    "vad_delay_ms",
    "end_of_turn_ms",
    "stt_ms",
    "stt_finalize_ms",
    "llm_first_token_ms",
    "tts_first_audio_ms",
    "first_audio_ms",
    "voice_to_voice_ms",
    "tool_ms",
    "response_ms",
)
"""The figures in milliseconds, as they appear in the event's ``metrics``."""


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


@dataclass
class Tokens:
    """Tokens of one response, disjoint: ``*_cached`` are inputs served from the cache.

    (OpenAI's ``usage`` counts cached tokens inside its text and audio inputs; here each token
    is in exactly one field, so sums and prices need no subtraction.)
    """

    input_text: int = 0
    input_text_cached: int = 0
    input_audio: int = 0
    input_audio_cached: int = 0
    output_text: int = 0
    output_audio: int = 0

    @classmethod
    def from_usage(cls, usage: Mapping[str, Any] | None) -> Tokens:
        """From a ``response.done`` ``usage``; tokens without a breakdown count as text."""
        usage = usage or {}
        details_in = usage.get("input_token_details") or {}
        details_out = usage.get("output_token_details") or {}
        cached = details_in.get("cached_tokens_details") or {}
        if details_in:
            text_in, audio_in = (
                _int(details_in.get("text_tokens")),
                _int(details_in.get("audio_tokens")),
            )
        else:
            text_in, audio_in = _int(usage.get("input_tokens")), 0
        if details_out:
            text_out = _int(details_out.get("text_tokens"))
            audio_out = _int(details_out.get("audio_tokens"))
        else:
            text_out, audio_out = _int(usage.get("output_tokens")), 0
        cached_text, cached_audio = (
            _int(cached.get("text_tokens")),
            _int(cached.get("audio_tokens")),
        )
        return cls(
            input_text=max(text_in - cached_text, 0),
            input_text_cached=cached_text,
            input_audio=max(audio_in - cached_audio, 0),
            input_audio_cached=cached_audio,
            output_text=text_out,
            output_audio=audio_out,
        )

    def as_dict(self) -> dict[str, int]:
        """Field name → count."""
        return dataclasses.asdict(self)


@dataclass
class TurnMetrics:
    """One response's figures; the first response answering a user turn carries the turn's.

    A figure is None when it does not apply or the engine cannot measure it: a typed turn has
    no VAD or STT, engine ``openai``'s own voice no separate TTS. Times are milliseconds.
    """

    session_id: str
    response_id: str
    item_id: str | None = None
    """The user (or system) item the response answers; None for one nobody's turn asked for."""
    status: str = "completed"
    """The response's status: ``completed``, ``cancelled``, ``failed``, ``incomplete``, or
    ``in_progress`` for one the session's end cut off."""
    interrupted: bool = False
    """Cancelled by the user speaking over it (barge-in, ``turn_detected``)."""
    false_interruptions: int = 0
    """Sounds over it that paused it and turned out not to interrupt (it resumed)."""
    vad_delay_ms: float | None = None
    """From the end of the user's speech to its detection (the silence the VAD waited for)."""
    end_of_turn_ms: float | None = None
    """``semantic_vad``: the end-of-turn model's time."""
    end_of_turn_probability: float | None = None
    """``semantic_vad``: the model's last verdict that the user had finished."""
    stt_ms: float | None = None
    """The transcription's own time (engine-reported)."""
    stt_finalize_ms: float | None = None
    """From the detected end of speech (or the commit) to the transcript."""
    llm_first_token_ms: float | None = None
    """From the response's start to the model's first token (tool routing included)."""
    tts_first_audio_ms: float | None = None
    """From the first phrase's text to its first audio."""
    first_audio_ms: float | None = None
    """From the response's start to its first audio."""
    voice_to_voice_ms: float | None = None
    """From the end of the user's speech to the turn's first audio handed to the clients."""
    tool_ms: float | None = None
    """Time in tools between the previous response of the turn and this one."""
    response_ms: float | None = None
    """From the response's start to its ``response.done``."""
    tokens: Tokens = field(default_factory=Tokens)
    model: str | None = None
    """The model that answered, when the engine names it."""
    cost_usd: float | None = None
    """From the price table; 0 on the offline engine, None for an unknown model."""
    ended_at: float = field(default_factory=time.time)
    """When the response ended (seconds since the epoch)."""

    def timings(self) -> dict[str, float]:
        """The figures measured, by name (``metrics`` of the event)."""
        found = {name: getattr(self, name) for name in TIMINGS}
        figures = {name: round(value, 1) for name, value in found.items() if value is not None}
        if self.end_of_turn_probability is not None:
            figures["end_of_turn_probability"] = self.end_of_turn_probability
        return figures

    def to_event(self) -> Event:
        """The ``voxgate.metrics`` event clients get."""
        return event(
            METRICS,
            response_id=self.response_id,
            item_id=self.item_id,
            status=self.status,
            interrupted=self.interrupted,
            false_interruptions=self.false_interruptions,
            metrics=self.timings(),
            tokens=self.tokens.as_dict(),
            model=self.model,
            cost_usd=self.cost_usd,
        )

    def record(self) -> dict[str, Any]:
        """Every field as plain JSON-ready data, for a store."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ToolTiming:
    """One tool call the agent runtime ran (``voxgate.tool.started`` → ``.completed``)."""

    name: str
    call_id: str
    status: str
    started_at: float
    """``time.monotonic()`` at its start."""
    ended_at: float


@dataclass
class ResponseTrace:
    """A response's figures and where it sits in time (``time.monotonic()``)."""

    metrics: TurnMetrics
    started_at: float
    ended_at: float
    first_audio_at: float | None = None


@dataclass
class TurnTrace:
    """One user turn in time, for tracing: its speech, transcript, responses and tools.

    Instants are ``time.monotonic()``; a turn without speech (typed, or a reply nobody asked
    for) has no ``speech_end_at`` / ``transcript_at``.
    """

    session_id: str
    item_id: str | None
    started_at: float
    speech_end_at: float | None = None
    """The end of the user's speech (its detection less the VAD's delay)."""
    detected_at: float | None = None
    """When the end of the turn was detected (or the audio committed)."""
    transcript_at: float | None = None
    responses: list[ResponseTrace] = field(default_factory=list)
    tools: list[ToolTiming] = field(default_factory=list)

    @property
    def ended_at(self) -> float:
        """The end of its last response or tool (its start if it has none)."""
        ends = [r.ended_at for r in self.responses] + [t.ended_at for t in self.tools]
        return max([self.started_at, *ends])
