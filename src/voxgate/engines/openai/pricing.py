"""What a realtime turn costs: ``response.done`` usage times a per-model price table (USD)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Price:
    """USD per million tokens, by modality; cached input is billed at its own rate."""

    text_in: float
    text_cached_in: float
    text_out: float
    audio_in: float
    audio_cached_in: float
    audio_out: float


# OpenAI's published list prices for the realtime models (per 1M tokens).
PRICES: dict[str, Price] = {
    "gpt-realtime-mini": Price(0.60, 0.06, 2.40, 10.00, 0.30, 20.00),
    "gpt-realtime": Price(4.00, 0.40, 16.00, 32.00, 0.40, 64.00),
    "gpt-4o-mini-realtime-preview": Price(0.60, 0.30, 2.40, 10.00, 0.30, 20.00),
    "gpt-4o-realtime-preview": Price(5.00, 2.50, 20.00, 40.00, 2.50, 80.00),
}


def price_for(model: str) -> Price | None:
    """The price of ``model`` or of its dated snapshot (``gpt-realtime-2025-08-28``)."""
    matches = [name for name in PRICES if model == name or model.startswith(name + "-")]
    return PRICES[max(matches, key=len)] if matches else None


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


def cost_usd(usage: dict[str, Any], price: Price) -> float:
    """The cost of one response's ``usage``; tokens without a breakdown count as text."""
    details_in = usage.get("input_token_details") or {}
    details_out = usage.get("output_token_details") or {}
    cached = details_in.get("cached_tokens_details") or {}
    if details_in:
        audio_in, text_in = (
            _int(details_in.get("audio_tokens")),
            _int(details_in.get("text_tokens")),
        )
    else:
        audio_in, text_in = 0, _int(usage.get("input_tokens"))
    cached_audio, cached_text = _int(cached.get("audio_tokens")), _int(cached.get("text_tokens"))
    if details_out:
        audio_out = _int(details_out.get("audio_tokens"))
        text_out = _int(details_out.get("text_tokens"))
    else:
        audio_out, text_out = 0, _int(usage.get("output_tokens"))
    total = (
        max(text_in - cached_text, 0) * price.text_in
        + cached_text * price.text_cached_in
        + max(audio_in - cached_audio, 0) * price.audio_in
        + cached_audio * price.audio_cached_in
        + text_out * price.text_out
        + audio_out * price.audio_out
    )
    return total / 1_000_000
