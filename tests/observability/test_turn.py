"""``TurnMetrics``: one shape for the event and for a store; tokens disjoint, from any usage."""

import json

from voxgate.observability import Tokens, TurnMetrics


def test_tokens_from_a_ga_usage_are_disjoint():
    usage = {
        "input_tokens": 1300,
        "output_tokens": 150,
        "input_token_details": {
            "text_tokens": 300,
            "audio_tokens": 1000,
            "cached_tokens": 500,
            "cached_tokens_details": {"text_tokens": 100, "audio_tokens": 400},
        },
        "output_token_details": {"text_tokens": 50, "audio_tokens": 100},
    }
    tokens = Tokens.from_usage(usage)
    assert tokens == Tokens(200, 100, 600, 400, 50, 100)
    assert sum(tokens.as_dict().values()) == 1300 + 150


def test_tokens_without_a_breakdown_count_as_text():
    assert Tokens.from_usage({"input_tokens": 12, "output_tokens": 3}) == Tokens(12, 0, 0, 0, 3, 0)
    assert Tokens.from_usage(None) == Tokens()


def test_the_event_holds_only_what_was_measured_and_the_record_is_plain_data():
    m = TurnMetrics("sess_1", "resp_1", item_id="item_1", llm_first_token_ms=123.456, cost_usd=0.0)
    ev = m.to_event()
    assert ev["type"] == "voxgate.metrics" and ev["event_id"].startswith("event_")
    assert ev["metrics"] == {"llm_first_token_ms": 123.5}
    assert (ev["response_id"], ev["item_id"], ev["status"]) == ("resp_1", "item_1", "completed")
    assert ev["tokens"]["output_audio"] == 0 and ev["cost_usd"] == 0.0 and ev["model"] is None
    record = json.loads(json.dumps(m.record()))
    assert record["session_id"] == "sess_1" and record["voice_to_voice_ms"] is None
    assert record["tokens"]["input_text"] == 0 and record["ended_at"] > 0
