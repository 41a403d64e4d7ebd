"""What a realtime turn costs: ``response.done`` usage times a per-model price table (USD)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voxgate.observability import Tokens


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


def cost_usd(usage: dict[str, Any], price: Price) -> float:
    """The cost of one response's ``usage``; tokens without a breakdown count as text."""
    tokens = Tokens.from_usage(usage)
    total = (
        tokens.input_text * price.text_in
        + tokens.input_text_cached * price.text_cached_in
        + tokens.input_audio * price.audio_in
        + tokens.input_audio_cached * price.audio_cached_in
        + tokens.output_text * price.text_out
        + tokens.output_audio * price.audio_out
    )
    return total / 1_000_000
