"""Pictures in a turn, in Chromium: attached from a file or taken with the (fake) camera, shown
in the user's bubble, answered. A loopback server: the reply tells the picture's type and size."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.conftest import serve_app
from tests.images import png
from tests.server.wire import loopback_settings
from tests.ui.test_page import Page
from tests.ui.test_page_a11y import axe_violations
from voxgate.server.app import create_app

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CONVERSATION = "[data-testid='conversation']"
SAID = re.compile(r"\(an (image/\w+) image of (\d+) bytes\)")


@pytest_asyncio.fixture
async def base() -> AsyncIterator[str]:
    async with serve_app(create_app(loopback_settings())) as port:
        yield f"http://127.0.0.1:{port}"


@pytest_asyncio.fixture
async def opened(browser, artifacts, base, request) -> AsyncIterator:
    contexts = []

    async def open_(transport: str) -> Page:
        context = await browser.new_context()
        contexts.append(context)
        name = request.node.name.replace("[", "-").rstrip("]")
        page = Page(await context.new_page(), name, artifacts)
        await page.goto(f"{base}/?transport={transport}")
        await page.wait_for_selector("body[data-ready='true']")
        await page.testid("connect").click()
        await page.wait_for_selector("[data-testid='status'][data-state='connected']")
        return page

    yield open_
    for context in contexts:
        await context.close()


async def reply(page: Page, n: int) -> tuple[str, int]:
    """The media type and size the agent's ``n``-th reply tells."""
    agent = page.locator(f"{CONVERSATION} .bubble.agent .bubble-text").nth(n)
    await agent.wait_for(timeout=20000)
    match = SAID.search(await agent.inner_text())
    assert match, await agent.inner_text()
    return match.group(1), int(match.group(2))


async def shown(page: Page, n: int) -> None:
    """The ``n``-th user bubble shows its picture (decoded, with alt text)."""
    image = page.locator(f"{CONVERSATION} .bubble.user").nth(n).get_by_test_id("bubble-image")
    await image.wait_for()
    assert await image.evaluate("img => img.complete && img.naturalWidth > 0")
    assert await image.get_attribute("alt")


@pytest.mark.parametrize("transport", ["webrtc", "websocket"])
async def test_an_attached_picture_is_shown_sent_and_answered(opened, tmp_path, transport):
    page = await opened(transport)
    small = png(12, 12)
    path = tmp_path / "square.png"
    path.write_bytes(small)
    await page.testid("image-input").set_input_files(str(path))
    await page.testid("attachment").wait_for()
    assert "square.png" in await page.testid("attachment-info").inner_text()
    await page.testid("text-input").fill("What is this?")
    await page.testid("send").click()
    await shown(page, 0)
    user = page.locator(f"{CONVERSATION} .bubble.user").first
    assert "What is this?" in await user.inner_text()
    assert await reply(page, 0) == ("image/png", len(small))  # sent as it was: it fits
    assert await page.testid("attachment").is_hidden()
    assert await page.testid("text-input").input_value() == ""
    sent = await page.evaluate(
        "window.voxgate.events.find(e => e.type === 'conversation.item.added').item.content"
    )
    assert [p["type"] for p in sent] == ["input_text", "input_image"]
    # a photo too large for one data-channel message is scaled down to a JPEG that fits
    big = png(700, 500, noise=True)
    assert len(big) > 1_000_000
    (tmp_path / "photo.png").write_bytes(big)
    await page.testid("image-input").set_input_files(str(tmp_path / "photo.png"))
    await page.testid("attachment").wait_for()
    await page.testid("send").click()  # no words: the picture alone
    await shown(page, 1)
    media_type, size = await reply(page, 1)
    assert media_type == "image/jpeg" and size <= 180 * 1024
    assert not await page.evaluate("window.voxgate.errors"), await page.debug("errors")
    await page.screenshot_done()
    assert not page.console_errors, page.console_errors


async def test_a_camera_snapshot_is_sent(opened):
    page = await opened("websocket")
    await page.testid("camera").click()
    await page.testid("camera-panel").wait_for()
    await page.wait_for_function(
        "document.querySelector(\"[data-testid='camera-video']\").videoWidth > 0"
    )
    await page.testid("camera-shoot").click()
    await page.testid("attachment").wait_for()
    assert await page.testid("camera-panel").is_hidden()
    await page.testid("text-input").fill("Here I am.")
    await page.testid("text-input").press("Enter")
    await shown(page, 0)
    media_type, size = await reply(page, 0)
    assert media_type == "image/jpeg" and 0 < size <= 180 * 1024
    assert not page.console_errors, page.console_errors


async def test_a_file_that_is_not_a_picture_is_refused_in_words(opened, tmp_path):
    page = await opened("websocket")
    path = tmp_path / "notes.png"
    path.write_bytes(b"these are not pixels")
    await page.testid("image-input").set_input_files(str(path))
    await page.wait_for_function(
        "document.querySelector(\"[data-testid='composer-hint']\").textContent.includes('cannot')"
    )
    assert await page.testid("attachment").is_hidden()


async def test_the_picture_and_the_camera_pass_axe_on_a_phone(opened, tmp_path):
    page = await opened("websocket")
    await page.set_viewport_size({"width": 390, "height": 844})
    (tmp_path / "square.png").write_bytes(png(64, 64))
    await page.testid("image-input").set_input_files(str(tmp_path / "square.png"))
    await page.testid("attachment").wait_for()
    await page.testid("camera").click()
    await page.testid("camera-panel").wait_for()
    assert not await axe_violations(page)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.testid("camera-cancel").click()
    assert await page.testid("camera-panel").is_hidden()
    assert await page.evaluate(  # the camera is let go
        "document.querySelector(\"[data-testid='camera-video']\").srcObject === null"
    )
    await page.testid("attachment-remove").click()
    assert await page.testid("attachment").is_hidden()
    await page.testid("text-input").fill("Only words now.")
    await page.testid("send").click()
    agent = page.locator(f"{CONVERSATION} .bubble.agent .bubble-text").first
    await agent.wait_for()
    assert await agent.inner_text() == "Only words now."
