"""The values a session (and a response) may take: the GA spec's ranges, within the engine's.

Each check returns the value to keep or raises one ``ProtocolError`` naming the field (``param``)
and what is allowed, so a refused ``session.update`` or ``response.create`` says how to fix it.
"""

from __future__ import annotations

from typing import Any

from voxgate.protocol import ProtocolError

MAX_OUTPUT_TOKENS = 4096
"""The spec's largest ``max_output_tokens``."""
MAX_VAD_MS = 10_000
"""Longest ``silence_duration_ms`` / ``prefix_padding_ms``: past it a turn never ends, or the
buffer is never trimmed."""
TEMPERATURE = (0.0, 2.0)
"""Sampling temperature (a voxgate extension of the GA session: the spec has none)."""
SPEED = (0.25, 1.5)
"""The GA ``audio.output.speed``: how fast replies are spoken (1.0: the voice's own)."""
MODALITIES = (["audio"], ["text"])


def _invalid(message: str, param: str, code: str = "invalid_value") -> ProtocolError:
    return ProtocolError(message, code=code, param=param)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def whole(value: Any, low: int, high: int, *, param: str) -> int:
    """An integer from ``low`` to ``high`` (a JSON number like ``300.0`` counts as one)."""
    if _number(value) and float(value).is_integer() and low <= value <= high:
        return int(value)
    raise _invalid(f"{param.rsplit('.', 1)[-1]} must be an integer from {low} to {high}", param)


def fraction(value: Any, low: float, high: float, *, param: str) -> float:
    """A number from ``low`` to ``high``."""
    if _number(value) and low <= value <= high:
        return float(value)
    raise _invalid(f"{param.rsplit('.', 1)[-1]} must be a number from {low} to {high}", param)


def flag(value: Any, *, param: str) -> bool:
    """``true`` or ``false``."""
    if isinstance(value, bool):
        return value
    raise _invalid(f"{param.rsplit('.', 1)[-1]} must be true or false", param)


def max_output_tokens(value: Any, cap: int, *, param: str) -> int:
    """``max_output_tokens``: an integer from 1 to the engine's ``cap``, or ``"inf"`` (the cap).

    ``cap`` is what the engine serves (at most the spec's 4096): a longer reply would hold the
    shared model, and every other session waits for it.
    """
    if value == "inf":
        return cap
    if _number(value) and float(value).is_integer() and 1 <= value <= cap:
        return int(value)
    raise _invalid(f"max_output_tokens must be an integer from 1 to {cap}, or 'inf'", param)


def modalities(value: Any, *, param: str) -> list[str]:
    """``output_modalities``: ``["audio"]`` or ``["text"]``."""
    if value in MODALITIES:
        return list(value)
    raise _invalid("output_modalities must be ['audio'] or ['text']", param)


HOSTED_VOICES = frozenset(
    {"alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"}
)
"""The hosted model's built-in voices (the GA spec's names): clients written for it ask for them
(the openai-agents ``RealtimeRunner`` asks for ``ash``)."""


def voice(value: Any, voices: tuple[str, ...] | None, *, param: str) -> str:
    """A voice name (or ``{"id": ...}``) among ``voices``; None: the engine takes any.

    A hosted model's built-in voice is taken and spoken in the engine's own (the first of
    ``voices``), which the session then names; any other name is refused.
    """
    name = value.get("id") if isinstance(value, dict) else value
    if not isinstance(name, str) or not name:
        raise _invalid("voice must be a voice name or {'id': ...}", param)
    if voices and name not in voices and name in HOSTED_VOICES:
        return voices[0]
    if voices is not None and name not in voices:
        raise _invalid(
            f"unknown voice {name!r}; this engine speaks with: {', '.join(voices)}", param
        )
    return name


def temperature(value: Any, *, param: str) -> float:
    """Sampling temperature, 0.0 to 2.0."""
    return fraction(value, *TEMPERATURE, param=param)


def speed(value: Any, *, param: str) -> float:
    """Speech speed, 0.25 to 1.5."""
    return fraction(value, *SPEED, param=param)


def audio_format(fmt: Any, *, param: str) -> None:
    """The only format engines see: PCM16 at 24 kHz (edges convert the others)."""
    if fmt is None:
        return
    if not isinstance(fmt, dict) or (fmt.get("type"), fmt.get("rate", 24000)) != (
        "audio/pcm",
        24000,
    ):
        raise _invalid(
            "the local engine takes audio/pcm at 24000 Hz", param, code="unsupported_audio_format"
        )


def server_vad(td: dict[str, Any], *, param: str) -> dict[str, Any]:
    """The VAD fields of a ``turn_detection`` that are set, each checked (not its type)."""
    fields: dict[str, Any] = {}
    for key, value in td.items():
        if value is None or key in ("type", "eagerness"):
            continue
        where = f"{param}.{key}"
        if key == "threshold":
            fields[key] = fraction(value, 0.0, 1.0, param=where)
        elif key in ("silence_duration_ms", "prefix_padding_ms"):
            fields[key] = whole(value, 0, MAX_VAD_MS, param=where)
        elif key in ("create_response", "interrupt_response"):
            fields[key] = flag(value, param=where)
        elif key == "idle_timeout_ms":
            raise _invalid(
                "this engine has no idle timeout: leave idle_timeout_ms null",
                where,
                code="unsupported_turn_detection",
            )
    return fields
