"""A second tab or device joins a conversation under way and sees what was said before it came
(the store's history, GET /api/conversations/{id}), then the new turns, each once."""

from __future__ import annotations

import asyncio

import pytest

from tests.ui.test_page import TRANSPORTS, Page, connect

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CONVERSATION = "[data-testid='conversation']"


async def transcript(page: Page) -> list[tuple[str, str]]:
    """The bubbles and notes on screen, in order: (role, text)."""
    rows = await page.evaluate(
        f"""() => [...document.querySelectorAll("{CONVERSATION} > li")].map(n =>
            [n.dataset.role, (n.querySelector('.bubble-text') ?? n).textContent])"""
    )
    return [tuple(row) for row in rows]


async def say(page: Page, text: str) -> None:
    await page.testid("text-input").fill(text)
    await page.testid("send").click()


async def replies(page: Page, count: int) -> None:
    """``count`` finished agent bubbles are on screen."""
    await page.wait_for_function(
        f'document.querySelectorAll("{CONVERSATION} .bubble.agent:not(.streaming)").length'
        f" >= {count}",
        timeout=30000,
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_joining_page_sees_the_conversation_so_far(open_loopback, transport):
    first = await open_loopback(transport)
    await connect(first, transport)
    await first.testid("mute").click()
    await say(first, "My name is Sarah.")
    await replies(first, 1)

    link = await first.evaluate("window.voxgate.app.session.link")
    second = await open_loopback(url=f"{link}&transport={transport}")
    await connect(second, transport)
    await second.testid("mute").click()
    await second.wait_debug("caughtUp !== null", timeout=20)
    said = [("user", "My name is Sarah."), ("agent", "My name is Sarah.")]
    assert await transcript(second) == said
    assert await second.locator(f"{CONVERSATION} [data-earlier]").count() == 2
    assert await second.testid("errors").inner_text() == ""

    await say(first, "I live in Lisbon.")
    for page in (first, second):
        await replies(page, 2)
    await asyncio.sleep(1.0)  # anything shown twice would be by now
    said += [("user", "I live in Lisbon."), ("agent", "I live in Lisbon.")]
    for page in (first, second):
        assert await transcript(page) == said, page.name
    await say(second, "And you?")  # the joined page takes part too
    for page in (first, second):
        await replies(page, 3)
    await asyncio.sleep(0.5)
    said += [("user", "And you?"), ("agent", "And you?")]
    for page in (first, second):
        assert await transcript(page) == said, page.name
    await second.screenshot_done()
    for page in (first, second):
        assert not page.console_errors, page.console_errors


async def test_nothing_stored_yet_leaves_the_page_as_it_was(open_loopback):
    """Others are here but nothing was said: the history answers 404, and the page says
    nothing of it (no banner, no note)."""
    first = await open_loopback("websocket")
    await connect(first, "websocket")
    link = await first.evaluate("window.voxgate.app.session.link")
    second = await open_loopback(url=f"{link}&transport=websocket")
    async with second.expect_response(lambda r: "/api/conversations/" in r.url) as answer:
        await connect(second, "websocket")
    assert (await answer.value).status == 404
    await asyncio.sleep(0.3)
    assert await second.testid("errors").inner_text() == ""
    assert await transcript(second) == []
    assert await second.debug("caughtUp") is None


async def test_stored_items_go_above_the_live_ones_once(open_loopback):
    """The store's items (bubbles, a tool call with its result, a handoff, a run) go above what
    arrived live; one already on screen, live, is not shown again."""
    page = await open_loopback("websocket")
    stored = [
        {"item_id": "u1", "type": "message", "role": "user", "text": "Weather in Paris?"},
        {"item_id": "c1", "type": "function_call", "role": None, "text": "get_weather(…)",
         "data": {"name": "get_weather", "arguments": '{"city": "Paris"}', "call_id": "call_1"}},
        {"item_id": "o1", "type": "function_call_output", "role": None,
         "text": '{"forecast": "sunny"}', "data": {"call_id": "call_1"}},
        {"item_id": "a1", "type": "message", "role": "assistant", "text": "Sunny."},
        {"item_id": None, "type": "handoff", "role": None, "text": "triage → faq",
         "data": {"from": "triage", "to": "faq"}},
        {"item_id": None, "type": "run", "role": None, "text": "Compare fares",
         "data": {"run_id": "run_1", "agent": "researcher", "status": "started"}},
        {"item_id": None, "type": "run", "role": None, "text": "failed: timed out",
         "data": {"run_id": "run_1", "agent": "researcher", "status": "failed"}},
        {"item_id": "u2", "type": "message", "role": "user", "text": "Thanks!"},
        {"item_id": "s1", "type": "message", "role": "system", "text": "Be brief."},
        {"item_id": "u3", "type": "message", "role": "user", "text": ""},
    ]  # fmt: skip
    live = {"type": "conversation.item.added", "item": {"id": "u2", "type": "message",
            "role": "user", "content": [{"type": "input_text", "text": "Thanks!"}]}}  # fmt: skip
    await page.evaluate("(ev) => window.voxgate.app.receive(ev)", live)
    added = await page.evaluate(
        """async (items) => {
            const { storedEntries } = await import('/static/js/catch-up.js');
            return window.voxgate.app.conversation.earlier(storedEntries(items));
        }""",
        stored,
    )
    assert added == 5
    assert await transcript(page) == [
        ("user", "Weather in Paris?"),
        ("note", "get_weather(city: Paris) → forecast: sunny"),
        ("agent", "Sunny."),
        ("note", "triage → faq"),
        ("note", "researcher: failed (timed out) — “Compare fares”"),
        ("user", "Thanks!"),
    ]
    assert await page.testid("conversation-empty").is_hidden()
    assert not page.console_errors, page.console_errors
