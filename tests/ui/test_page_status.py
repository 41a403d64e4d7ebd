"""What the page tells without being looked for: the turn state, announced to a screen reader
once per change."""

from __future__ import annotations

import re

import pytest

from tests.ui.test_page import Page, connect

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

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
