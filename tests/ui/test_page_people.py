"""The People tab: two pages in one conversation see each other, one mutes and removes the other,
and the removed page says so and does not come back by itself."""

from __future__ import annotations

import uuid

import pytest

from tests.ui.test_page import connect, open_page  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ROWS = "[data-testid='participants'] .participant"


async def test_people_see_each_other_mute_and_remove(open_page):  # noqa: F811
    session = "people-" + uuid.uuid4().hex[:8]
    host = await open_page(f"websocket&session={session}")
    await connect(host, "websocket")
    await host.testid("mute").click()  # the fake microphone's question is not the point here
    guest = await open_page(f"webrtc&session={session}")
    await connect(guest, "webrtc")
    await guest.testid("mute").click()

    await host.testid("tab-people").click()
    await host.wait_for_selector(f"{ROWS}:nth-child(2)")
    assert await host.testid("participants-count").inner_text() == "2"
    me = host.locator(f"{ROWS}[data-you='true']")
    assert await me.locator(".participant-name").inner_text() == "You"
    assert await me.locator(".participant-remove").is_hidden()  # Disconnect is how to leave
    other = host.locator(f"{ROWS}[data-you='false']")
    assert "WebRTC" in await other.locator(".participant-detail").inner_text()

    await other.locator(".participant-mute").click()
    await host.wait_for_selector(f"{ROWS}[data-you='false'][data-muted='true']")
    await guest.testid("tab-people").click()
    await guest.wait_for_selector(f"{ROWS}[data-you='true'][data-muted='true']")  # told too

    await other.locator(".participant-remove").click()
    await guest.wait_for_selector("[data-testid='status'][data-state='error']", timeout=15000)
    banner = await guest.testid("errors").inner_text()
    assert "You were removed from this conversation." in banner
    assert not await guest.evaluate("window.voxgate.app.reconnect.pending")  # no retry
    await host.wait_for_selector(f"{ROWS}:nth-child(2)", state="detached")
    assert await host.testid("participants-count").inner_text() == "1"
    await host.screenshot_done()
    assert not host.console_errors, host.console_errors
