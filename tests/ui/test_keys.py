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


async def test_signing_in_shows_the_user_and_role_and_signing_out_forgets_the_key(
    browser, artifacts
):
    async with serve(loopback_settings()) as server:
        users = server.gateway.users
        assert users is not None
        _, alice = await users.add("alice", "user")
        _, victor = await users.add("victor", "viewer")
        _, gone = await users.add("gone", "user")
        await users.update("gone", disabled=True)
        context = await browser.new_context()
        page = Page(await context.new_page(), "sign-in", artifacts)
        try:
            await page.goto(server.http + "/?transport=websocket")
            await page.wait_for_selector("body[data-ready='true']")
            assert await page.testid("sign-in").is_visible()
            assert not await page.testid("account").is_visible()

            await page.testid("api-key").fill(gone)
            await page.testid("sign-in-button").click()
            await page.wait_for_function(
                "document.querySelector('[data-testid=errors]').innerText.includes('disabled')"
            )
            assert await page.testid("sign-in").is_visible()

            await page.testid("api-key").fill(alice)
            await page.testid("api-key").press("Enter")
            await page.wait_for_selector("[data-testid='account']:not([hidden])")
            assert await page.testid("user-name").inner_text() == "alice"
            assert await page.testid("user-role").text_content() == "user"
            assert not await page.testid("sign-in").is_visible()
            await page.testid("connect").click()
            await page.wait_for_selector("[data-testid='status'][data-state='connected']")
            await page.screenshot_done()

            await page.testid("sign-out").click()
            await page.wait_for_selector("[data-testid='sign-in']:not([hidden])")
            assert await page.debug("state") == "disconnected"
            assert await page.evaluate("sessionStorage.getItem('voxgate.apiKey')") is None

            await page.testid("api-key").fill(victor)
            await page.testid("sign-in-button").click()
            await page.wait_for_selector("[data-testid='account']:not([hidden])")
            assert await page.testid("user-role").text_content() == "viewer"
            assert await page.testid("connect").is_disabled()
            errors = await page.testid("errors").inner_text()
            assert "not available to role viewer" in errors
        finally:
            await context.close()
