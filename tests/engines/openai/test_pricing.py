from __future__ import annotations

import pytest

from voxgate.engines.openai.pricing import PRICES, cost_usd, price_for


def test_dated_snapshots_and_unknown_models():
    assert price_for("gpt-realtime-2025-08-28") is PRICES["gpt-realtime"]
    assert price_for("gpt-realtime-mini-2025-10-06") is PRICES["gpt-realtime-mini"]
    assert price_for("gpt-realtimer") is None
    assert price_for("voxgate-local") is None


def test_cost_by_modality_with_cached_input():
    usage = {
        "input_tokens": 1100,
        "output_tokens": 550,
        "input_token_details": {
            "audio_tokens": 1000,
            "text_tokens": 100,
            "cached_tokens": 200,
            "cached_tokens_details": {"audio_tokens": 200, "text_tokens": 0},
        },
        "output_token_details": {"audio_tokens": 500, "text_tokens": 50},
    }
    expected = (800 * 32 + 200 * 0.40 + 100 * 4 + 500 * 64 + 50 * 16) / 1e6
    assert cost_usd(usage, PRICES["gpt-realtime"]) == pytest.approx(expected)


def test_usage_without_breakdown_counts_as_text():
    usage = {"input_tokens": 1000, "output_tokens": 100}
    assert cost_usd(usage, PRICES["gpt-realtime"]) == pytest.approx((1000 * 4 + 100 * 16) / 1e6)
