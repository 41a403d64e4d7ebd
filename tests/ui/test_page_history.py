"""The History pane in Chromium: past conversations listed, searched, opened, resumed, deleted.

A loopback server (no models: a typed turn's reply echoes it) with a store of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.conftest import serve_app
from tests.server.wire import loopback_settings
from tests.ui.test_page import Page
from voxgate.server.app import create_app
from voxgate.server.gateway import Gateway

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CONVERSATION = "[data-testid='conversation']"


@pytest_asyncio.fixture
async def served(tmp_path) -> AsyncIterator[tuple[str, Gateway]]:
    app = create_app(loopback_settings(data_dir=tmp_path, summaries=True))
    async with serve_app(app) as port:
        yield f"http://127.0.0.1:{port}", app.state.gateway


async def test_history_lists_opens_searches_resumes_and_deletes(browser, artifacts, served):
    base, gateway = served
    context = await browser.new_context()
    page = Page(await context.new_page(), "history", artifacts)
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    try:
        await page.goto(f"{base}/?transport=websocket")
        await page.wait_for_selector("body[data-ready='true']")
        await page.testid("connect").click()
        await page.wait_for_selector("[data-testid='status'][data-state='connected']")
        session_id = await page.debug("sessionId")
        await page.testid("text-input").fill("My name is Sarah.")
        await page.testid("send").click()
        await page.locator(f"{CONVERSATION} .bubble.agent").wait_for()
        await page.testid("connect").click()  # Disconnect: the session ends, summarized
        async with asyncio.timeout(20):
            while gateway.recorder.live(session_id) is not None:
                await asyncio.sleep(0.05)
        await page.testid("new-conversation").click()

        await page.testid("tab-history").click()
        rows = page.testid("history-row")
        await rows.first.wait_for()
        assert await rows.count() == 1
        assert "My name is Sarah." in await rows.first.inner_text()
        await page.testid("history-query").fill("nobody said this")
        await page.wait_for_function(
            "document.querySelector('[data-testid=history-empty]').textContent.includes('Nothing')"
        )
        assert await rows.count() == 0
        await page.testid("history-query").fill("SARAH")
        await rows.first.wait_for()

        await rows.first.locator("button").click()
        items = page.testid("history-item")
        await items.first.wait_for()
        texts = await items.all_inner_texts()
        assert texts[0].split() == ["You", "My", "name", "is", "Sarah."]
        assert texts[1].split()[0] == "Agent"
        assert texts[-1].startswith("Summary")
        await page.screenshot_done()

        await page.testid("history-resume").click()  # the page joins the stored conversation
        await page.wait_for_selector("[data-testid='status'][data-state='connected']")
        assert await page.debug("sessionId") == session_id
        await page.locator(f"{CONVERSATION} .bubble.agent").first.wait_for()
        bubbles = await page.locator(f"{CONVERSATION} .bubble .bubble-text").all_inner_texts()
        assert bubbles[:2] == ["My name is Sarah.", "My name is Sarah."]
        await page.testid("connect").click()
        async with asyncio.timeout(20):
            while gateway.recorder.live(session_id) is not None:
                await asyncio.sleep(0.05)

        await page.testid("tab-events").click()
        await page.testid("tab-history").click()
        await page.testid("history-query").fill("")
        await page.testid("history-row").first.locator("button").click()
        await page.testid("history-delete").click()  # confirmed by the dialog handler
        await page.wait_for_function(
            "document.querySelector('[data-testid=history-empty]').textContent.includes('No past')"
        )
        assert await gateway.history.get(session_id) is None
        assert not page.console_errors, page.console_errors
    finally:
        await context.close()
