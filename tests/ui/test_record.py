"""Hold to talk: record-and-send from the page (headless Chromium; the fake microphone speaks
its question after a few seconds of silence)."""

from __future__ import annotations

import asyncio

import pytest

from tests.ui.conftest import LEAD_S
from tests.ui.test_page import connect, open_page  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

QUESTION_S = 2.5  # the Piper question, and a breath after it


async def test_hold_to_talk_sends_the_clip_then_shows_and_plays_the_reply(open_page):  # noqa: F811
    page = await open_page("websocket")
    button = page.testid("hold-to-talk")
    assert await button.is_visible() and await button.is_enabled()
    box = await button.bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] >= 44
    await button.hover()
    await page.mouse.down()
    await page.wait_debug("recording === true", timeout=10)
    assert await button.get_attribute("aria-pressed") == "true"
    await asyncio.sleep(LEAD_S + QUESTION_S)
    async with page.expect_response("**/api/voice/turn?*", timeout=120_000) as answer:
        await page.mouse.up()
    assert (await answer.value).status == 200
    await page.wait_debug("recordedTurns >= 1", timeout=10)
    user = page.testid("recorded")
    heard = (await user.inner_text()).lower()
    assert "capital" in heard and "france" in heard
    assert "pending" not in (await user.get_attribute("class") or "")
    agent = page.locator("[data-testid='conversation'] .bubble.agent")
    assert (await agent.last.locator(".bubble-text").inner_text()).strip()
    await page.wait_debug("recordedAudioPlayed >= 1", timeout=10)
    session = await page.debug("sessionId")
    assert session and await page.testid("session").inner_text()  # the conversation's id shown
    await page.screenshot_done()
    assert not page.console_errors, page.console_errors

    # the keyboard: Space held on the focused button records; let go, and it is sent
    await button.focus()
    await page.keyboard.down("Space")
    await page.wait_debug("recording === true", timeout=10)
    await asyncio.sleep(1.0)
    async with page.expect_request("**/api/voice/turn?*") as sent:
        await page.keyboard.up("Space")
    assert (await sent.value).method == "POST"
    last = await page.debug("lastRecording")
    assert last["conversationId"] == session and last["bytes"] > 0  # the same conversation
    assert last["type"].startswith("audio/webm")

    # live voice holds the session: the button waits
    await connect(page, "websocket")
    assert await button.is_disabled()
    assert "Disconnect" in (await button.get_attribute("title") or "")


async def test_a_tap_is_not_a_recording(open_page):  # noqa: F811
    page = await open_page("websocket")
    requests: list[str] = []
    page.on("request", lambda r: "/api/voice/" in r.url and requests.append(r.url))
    await page.testid("hold-to-talk").click()
    await page.wait_for_function(
        "document.querySelector(\"[data-testid='composer-hint']\").textContent.includes('Hold')"
    )
    assert requests == []
    assert not page.console_errors, page.console_errors
