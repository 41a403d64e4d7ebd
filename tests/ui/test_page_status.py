"""What the page tells without being looked for: the turn state, announced to a screen reader
once per change, and the last turn's latency on a phone, without scrolling."""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.ui.test_page import Page, connect

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True}
CONVERSATION = "[data-testid='conversation']"


async def replay(page: Page, events: list[dict]) -> None:
    for ev in events:
        await page.evaluate("(ev) => window.voxgate.app.receive(ev)", ev)


async def no_microphone(page: Page) -> None:
    """No audio goes out (the loopback would echo it back as the agent's voice)."""
    await page.evaluate(
        """() => { navigator.mediaDevices.getUserMedia = () =>
            Promise.reject(new DOMException('denied', 'NotAllowedError')); }"""
    )


async def test_the_turn_state_is_announced_once_per_change(open_loopback):
    page = await open_loopback("websocket")
    await no_microphone(page)
    await page.evaluate(
        """() => { window.announced = [];
            new MutationObserver((records) => { for (const r of records)
                for (const n of r.addedNodes) window.announced.push(n.textContent); })
            .observe(document.querySelector("[data-testid='turn-announcer']"),
                     {childList: true, characterData: true, subtree: true}); }"""
    )
    announcer = page.testid("turn-announcer")
    assert await announcer.get_attribute("aria-live") == "polite"
    await connect(page, "websocket")
    await page.testid("text-input").fill("Hello there.")
    await page.testid("send").click()  # a typed turn: the loopback echoes it as text
    await page.locator(f"{CONVERSATION} .bubble.agent:not(.streaming)").wait_for()
    await page.wait_for_selector("[data-testid='activity'][data-state='idle']", state="attached")
    turn = ["The agent is thinking.", "The agent is speaking.", "Your turn."]
    assert await page.evaluate("window.announced") == turn
    assert await announcer.inner_text() == "Your turn."

    # a spoken turn's thinking: the clock ticks, the announcer does not
    await replay(page, [{"type": "input_audio_buffer.speech_started", "item_id": "u9"}])
    await replay(page, [{"type": "input_audio_buffer.speech_stopped", "item_id": "u9"}])
    clock = page.locator("[data-testid='activity'] .activity-clock")
    await page.wait_for_function(
        "parseFloat(document.querySelector('.activity-clock').textContent) >= 0.4"
    )
    assert re.fullmatch(r"0\.[4-9] s|[1-9]\.\d s", await clock.inner_text())
    turn += ["Listening.", "The agent is thinking."]
    assert await page.evaluate("window.announced") == turn
    await replay(
        page,
        [
            {"type": "response.created", "response": {"id": "r9"}},
            {"type": "response.done", "response": {"id": "r9", "status": "cancelled"}},
        ],
    )
    turn += ["Reply cancelled."]
    assert await page.evaluate("window.announced") == turn

    await replay(page, [{"type": "input_audio_buffer.speech_stopped", "item_id": "u10"}])
    await page.testid("connect").click()  # Disconnect while it thinks: nothing more is said
    await page.wait_for_selector("[data-testid='status'][data-state='disconnected']")
    spoken = [t for t in await page.evaluate("window.announced") if t]
    assert spoken == [*turn, "The agent is thinking."]
    assert not page.console_errors, page.console_errors


TURN = [  # a spoken turn: the page hears the reply 1.2 s after the user stopped (its own clock)
    {"type": "input_audio_buffer.speech_stopped", "item_id": "u1"},
    {"type": "response.created", "response": {"id": "r1"}},
    {"type": "voxgate.metrics", "response_id": "r1",
     "metrics": {"stt_ms": 180, "llm_first_token_ms": 740, "tts_first_audio_ms": 300}},
    {"type": "response.done", "response": {"id": "r1", "status": "completed", "output": []}},
]  # fmt: skip


async def test_a_phone_shows_the_last_turns_latency_without_scrolling(open_loopback):
    page = await open_loopback("websocket", **PHONE)
    await no_microphone(page)
    readout = page.testid("latency-readout")
    await connect(page, "websocket")
    assert await readout.is_hidden()  # nothing measured yet
    await replay(page, TURN[:2])
    await asyncio.sleep(0.2)
    await page.evaluate("window.voxgate.app.agentAudioHeard()")  # the reply's first sound
    await replay(page, TURN[2:])
    tile = page.locator("[data-testid='metrics'] [data-metric='v2v'] .metric-value")
    value = await tile.inner_text()
    assert re.fullmatch(r"\d+ ms|\d+\.\d s", value), value
    assert await readout.locator(".readout-value").inner_text() == value
    assert "voice-to-voice" in await readout.inner_text()
    box = await readout.bounding_box()
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= 844, box
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    assert await page.evaluate("window.scrollY") == 0
    tile_box = await tile.bounding_box()
    assert tile_box and tile_box["y"] > 844  # the panel's own tile is below the fold

    # the next turn: the server's figure (no sound heard here); both follow it
    await replay(
        page,
        [
            {"type": "input_audio_buffer.speech_stopped", "item_id": "u2"},
            {"type": "response.created", "response": {"id": "r2"}},
            {"type": "voxgate.metrics", "response_id": "r2",
             "metrics": {"llm_first_token_ms": 600, "voice_to_voice_ms": 2345}},
        ],
    )  # fmt: skip
    assert await tile.inner_text() == "2.3 s"
    assert await readout.locator(".readout-value").inner_text() == "2.3 s"
    await readout.click()  # takes the reader to the panel
    await page.wait_for_function("window.scrollY > 100")
    await page.screenshot_done()
    assert not page.console_errors, page.console_errors


async def test_a_wide_screen_shows_the_panel_not_the_readout(open_loopback):
    page = await open_loopback("websocket")
    await no_microphone(page)
    await connect(page, "websocket")
    await replay(page, [*TURN[:3], {**TURN[2], "metrics": {"voice_to_voice_ms": 900}}])
    assert await page.locator("[data-metric='v2v'] .metric-value").inner_text() == "900 ms"
    assert await page.testid("latency-readout").is_hidden()
