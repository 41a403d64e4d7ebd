"""``GET /metrics`` on a real server after a spoken turn, scraped and parsed as Prometheus does."""

import asyncio
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import silence
from voxgate.client import VoiceClient, spoken_reply_done

pytestmark = pytest.mark.e2e


async def scrape(server_url: str) -> dict[str, float]:
    """Sample name{label=value,...} → value (histogram buckets left out)."""
    async with httpx.AsyncClient(base_url=server_url.replace("ws://", "http://")) as http:
        r = await http.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            if "le" in s.labels:
                continue
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return samples


async def test_a_spoken_turn_shows_in_the_metrics(server_url, speech):
    before = await scrape(server_url)
    async with VoiceClient(f"{server_url}/ws/{uuid.uuid4().hex}") as client:
        await client.stream(silence(400) + speech("What is the capital of France?") + silence(1200))
        await client.wait_for(spoken_reply_done, timeout=90)
        await client.wait_for("voxgate.metrics", timeout=10)
        await client.send_raw("not json")
        _, error = await client.wait_for("error")
        during = await scrape(server_url)
    for _ in range(100):  # the server sees the client leave
        after = await scrape(server_url)
        if after["voxgate_participants"] < during["voxgate_participants"]:
            break
        await asyncio.sleep(0.05)

    def grew(name: str) -> float:
        return during.get(name, 0) - before.get(name, 0)

    for stage in (
        "voice_to_voice",
        "vad_delay",
        "stt_finalize",
        "llm_first_token",
        "tts_first_audio",
    ):
        assert grew(f"voxgate_{stage}_seconds_count") >= 1, stage
        assert grew(f"voxgate_{stage}_seconds_sum") > 0, stage
    assert grew("voxgate_responses_total{status=completed}") >= 1
    assert grew("voxgate_tokens_total{kind=output_text}") > 0
    assert grew(f"voxgate_errors_total{{code={error['error']['code']}}}") == 1
    assert during["voxgate_active_sessions"] >= 1 and during["voxgate_participants"] >= 1
    assert during["voxgate_client_queue_events_max"] >= 0
    assert "voxgate_dropped_deltas_total" in during and "voxgate_cost_usd_total" in during
    assert during["voxgate_event_loop_lag_seconds_count"] > 0  # the watchdog's ticks
    assert after["voxgate_participants"] == during["voxgate_participants"] - 1  # it left
