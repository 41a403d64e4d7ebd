"""The page on a server with keys: it asks for one, then connects without putting it in a URL."""

from __future__ import annotations

import pytest

from tests.server.wire import API_KEY, loopback_settings, serve
from tests.ui.test_page import Page

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


async def test_the_page_asks_for_a_key_and_connects_with_it(browser, artifacts):
    async with serve(loopback_settings(api_keys=[API_KEY])) as server:
        context = await browser.new_context()
        page = Page(await context.new_page(), "keys", artifacts)
        urls: list[str] = []
        page.on("request", lambda r: urls.append(r.url))
        page.on("websocket", lambda ws: urls.append(ws.url))
        try:
            await page.goto(server.http + "/?transport=websocket")
            await page.wait_for_selector("body[data-ready='true']")
            assert await page.testid("api-key-field").is_visible()
            errors = page.testid("errors")
            assert "This server needs an API key" in await errors.inner_text()

            await page.testid("api-key").fill("sk-wrong")
            await page.testid("connect").click()
            await page.wait_for_function(
                "document.querySelector('[data-testid=errors]').innerText.includes('refused')"
            )
            assert await page.debug("state") == "disconnected"

            await page.testid("api-key").fill(API_KEY)
            await page.testid("connect").click()
            await page.wait_for_selector("[data-testid='status'][data-state='connected']")
            assert await page.debug("transport") == "websocket"
            await page.wait_debug("events.some(e => e.type === 'session.created')", timeout=20)
            await page.testid("connect").click()  # disconnect

            await page.testid("transport").select_option("webrtc")
            await page.testid("connect").click()
            await page.wait_for_selector("[data-testid='status'][data-state='connected']")
            assert await page.debug("transport") == "webrtc"
            await page.screenshot_done()
        finally:
            await context.close()
        assert urls and not [u for u in urls if API_KEY in u]
        assert any("/ws/" in u for u in urls)
