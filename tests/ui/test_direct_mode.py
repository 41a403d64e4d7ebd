"""Browser-direct mode in the page: Chromium's call goes to a voxgate upstream, not the gateway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from tests.conftest import serve_app
from tests.ui.test_page import connect, open_page, spoken_turn_shown  # noqa: F401 (a fixture)
from voxgate.server.app import create_app
from voxgate.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

UPSTREAM_KEY = "sk-upstream-page"


@pytest_asyncio.fixture
async def direct_gateway(models, tmp_path) -> AsyncIterator[str]:
    """A gateway in direct mode (engine openai) and its upstream, a voxgate on the offline engine
    (with a store of its own)."""
    upstream = Settings(  # type: ignore[call-arg]
        _env_file=None, api_keys=[UPSTREAM_KEY], data_dir=tmp_path
    )
    async with serve_app(create_app(upstream, models=models)) as up:
        gateway = Settings(  # type: ignore[call-arg]
            _env_file=None,
            engine="openai",
            openai_api_key=UPSTREAM_KEY,
            openai_base_url=f"http://127.0.0.1:{up}/v1",
            direct_mode_enabled=True,
        )
        async with serve_app(create_app(gateway)) as port:
            yield f"http://127.0.0.1:{port}"


async def test_direct_mode_spoken_turn(open_page, direct_gateway):  # noqa: F811
    base = direct_gateway
    page = await open_page("direct", base=base)
    assert await page.testid("transport").input_value() == "direct"
    await connect(page, "direct")
    assert "Direct WebRTC" in await page.testid("transport-detail").inner_text()
    call_id = await page.debug("callId")
    assert call_id and call_id.startswith("rtc_")
    await spoken_turn_shown(page)  # the upstream heard the fake mic and answered
    types = await page.evaluate("window.voxgate.events.map(e => e.type)")
    assert "response.done" in types
    assert not [t for t in types if t.startswith("voxgate.")]  # straight from the upstream
    # a typed turn goes as GA events (no voxgate shortcut)
    await page.testid("text-input").fill("Say hello to me.")
    await page.testid("send").click()
    await page.wait_for_function(
        "window.voxgate.events.filter(e => e.type === 'response.done').length >= 2",
        timeout=60000,
    )
    assert not [e for e in await page.debug("errors") if e.get("code") != "connection"]
    # voxgate's listener kept the transcript of the call
    async with httpx.AsyncClient(base_url=base) as http:
        r = await http.get(f"/api/realtime/transcripts/{call_id}")
        assert r.status_code == 200, r.text
        entries = r.json()["entries"]
    assert any(e["role"] == "user" and "france" in e["text"].lower() for e in entries)
    assert any(e["role"] == "user" and "hello" in e["text"].lower() for e in entries)
    assert any(e["role"] == "assistant" and e["text"] for e in entries)
    await page.screenshot_done()
    assert not page.console_errors, page.console_errors


async def test_direct_mode_is_offered_only_when_on(open_page):  # noqa: F811
    page = await open_page()  # the shared server: direct mode off
    assert await page.locator("[data-testid='transport'] option[value='direct']").count() == 0
    page = await open_page("direct")
    assert await page.testid("transport").input_value() == "webrtc"


async def test_direct_mode_interrupt_stops_the_upstreams_voice(open_page, direct_gateway):  # noqa: F811
    page = await open_page("direct", base=direct_gateway)
    await connect(page, "direct")
    await page.testid("mute").click()  # before the fake mic's question
    await page.testid("text-input").fill("Tell me a long story about a knight and a dragon.")
    await page.testid("send").click()
    await page.wait_debug("agentAudioChunks > 5")
    await page.testid("interrupt").click()
    await page.wait_for_function(
        "window.voxgate.events.some(e => e.type === 'output_audio_buffer.cleared')",
        timeout=10000,
    )
    await asyncio.sleep(1.0)  # packets in flight drain
    heard = await page.debug("agentAudioChunks")
    await asyncio.sleep(1.5)
    assert await page.debug("agentAudioChunks") == heard, "the voice went on after interrupt"
    sent = await page.evaluate("window.voxgate.events.map(e => e.type)")
    assert "error" not in sent
    assert not page.console_errors, page.console_errors
