"""Accessibility and layout: axe-core in both themes at desktop and phone size, the ARIA tabs, a
phone without clipping, a header that stays put, and the small controls a user trips over
(issue 15)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ui.test_page import AGENT_EVENTS, connect, open_page  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True}
TRANSCRIPT = [
    {"type": "conversation.item.added", "item": {"id": "u1", "type": "message", "role": "user",
     "content": [{"type": "input_text", "text": "What's the weather in Paris?"}]}},
    {"type": "response.created", "response": {"id": "r1"}},
    {"type": "response.output_text.delta", "item_id": "a1", "delta": "Sunny, "},
    {"type": "response.output_text.done", "item_id": "a1", "text": "Sunny, 21 degrees."},
    {"type": "voxgate.metrics", "response_id": "r1",
     "metrics": {"stt_ms": 180, "llm_first_token_ms": 740, "tts_first_audio_ms": 1500}},
    {"type": "response.done", "response": {"id": "r1", "status": "completed", "output": []}},
]  # fmt: skip


async def replay(page, events) -> None:
    for ev in events:
        await page.evaluate("(ev) => window.voxgate.app.receive(ev)", ev)


FINITE_ANIMATIONS_DONE = """() => Promise.all(document.getAnimations()
    .filter((a) => Number.isFinite(a.effect.getComputedTiming().iterations))
    .map((a) => a.finished.catch(() => null)))"""
"""What new bubbles and notes fade in with has ended (mid-fade, axe measures a faded colour)."""


async def axe_violations(page) -> list[dict]:
    await page.evaluate(FINITE_ANIMATIONS_DONE)
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
    )
    return [
        {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("connected", [False, True], ids=["disconnected", "connected"])
async def test_axe_finds_nothing(open_page, scheme, connected, size):  # noqa: F811
    page = await open_page("websocket", color_scheme=scheme, **(PHONE if size == "phone" else {}))
    if connected:
        await connect(page, "websocket")
        await page.testid("mute").click()
        await replay(page, TRANSCRIPT + AGENT_EVENTS)
        await page.testid("events-filter").fill("no-such-event")
        if size == "phone":  # the last turn's latency beside the controls
            assert await page.testid("latency-readout").is_visible()
    violations = await axe_violations(page)
    assert not violations, json.dumps(violations, indent=1)
    for tab in ("tools", "runs", "history", "people"):
        await page.testid(f"tab-{tab}").click()
        violations = await axe_violations(page)
        assert not violations, f"{tab}: {json.dumps(violations, indent=1)}"
    await page.screenshot_done()


async def test_tabs_follow_the_aria_tab_pattern(open_page):  # noqa: F811
    page = await open_page("websocket")
    tabs = page.locator("[role='tab']")
    for i in range(await tabs.count()):
        tab = tabs.nth(i)
        panel = page.locator(f"#{await tab.get_attribute('aria-controls')}")
        assert await panel.get_attribute("role") == "tabpanel"
        assert await panel.get_attribute("aria-labelledby") == await tab.get_attribute("id")
    assert await page.locator("[role='tab'][tabindex='0']").count() == 1  # one tab stop
    await page.testid("tab-events").focus()
    await page.keyboard.press("ArrowRight")
    assert await page.testid("tab-tools").get_attribute("aria-selected") == "true"
    assert await page.evaluate("document.activeElement.dataset.testid") == "tab-tools"
    assert await page.locator("#pane-tools").is_visible()
    assert await page.locator("#pane-events").is_hidden()
    await page.keyboard.press("End")
    assert await page.testid("tab-people").get_attribute("aria-selected") == "true"
    await page.keyboard.press("ArrowRight")  # wraps
    assert await page.testid("tab-events").get_attribute("aria-selected") == "true"
    await page.keyboard.press("ArrowLeft")
    assert await page.testid("tab-people").get_attribute("aria-selected") == "true"


async def test_every_tab_stop_has_a_name(open_page):  # noqa: F811
    page = await open_page("websocket")
    unnamed = await page.evaluate(
        """() => [...document.querySelectorAll('a[href], button, input, select, [tabindex]')]
            .filter(n => n.tabIndex >= 0 && !n.disabled && n.offsetParent !== null)
            .filter(n => !(n.getAttribute('aria-label') || n.labels?.[0]?.textContent.trim()
                           || n.textContent.trim() || n.title))
            .map(n => n.outerHTML.slice(0, 80))"""
    )
    assert not unnamed, unnamed


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_header_stays_put_on_connect(open_page, size):  # noqa: F811
    page = await open_page("websocket", **(PHONE if size == "phone" else {}))
    before = await page.testid("connect").bounding_box()
    header = await page.locator("header").bounding_box()
    await connect(page, "websocket")
    after = await page.testid("connect").bounding_box()
    assert abs(after["x"] - before["x"]) <= 2 and abs(after["y"] - before["y"]) <= 2
    assert abs((await page.locator("header").bounding_box())["height"] - header["height"]) <= 2
    session = await page.testid("session").bounding_box()
    if size == "phone":  # no room for it: Copy link carries it, and names it in its title
        assert session is None
        assert await page.debug("sessionId") in await page.testid("copy-link").get_attribute(
            "title"
        )
    else:
        line = await page.testid("session").evaluate(
            "n => parseFloat(getComputedStyle(n).lineHeight)"
        )
        assert session["height"] <= line + 2, "the session id wraps"
    await page.screenshot_done()


async def test_phone_has_no_clipping_and_44px_targets(open_page):  # noqa: F811
    page = await open_page("websocket", **PHONE)
    await connect(page, "websocket")
    await page.testid("mute").click()
    await replay(page, TRANSCRIPT + AGENT_EVENTS)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    small = await page.evaluate(
        """() => [...document.querySelectorAll('button, select, input, summary')]
            .filter(n => n.offsetParent !== null && n.type !== 'checkbox')
            .map(n => [n.dataset.testid || n.className || n.tagName, n.getBoundingClientRect()])
            .filter(([, r]) => r.height < 44 || r.width < 44).map(([name, r]) => `${name} ${r.width}x${r.height}`)"""
    )
    assert not small, small
    box = await page.testid("events-hide-deltas").evaluate(
        "n => n.closest('label').getBoundingClientRect().height"
    )
    assert box >= 44
    clipped = await page.evaluate(
        """() => [...document.querySelectorAll('select, .event code, .run-text, .bubble-text')]
            .filter(n => n.offsetParent !== null && n.scrollWidth > n.clientWidth + 1 && n.tagName !== 'SELECT')
            .map(n => n.textContent.slice(0, 40))"""
    )
    assert not clipped, clipped
    for select in ("transport", "agent"):  # the chosen option's label fits
        fits = await page.testid(select).evaluate(
            """n => { const c = document.createElement('canvas').getContext('2d');
                c.font = getComputedStyle(n).font;
                return c.measureText(n.selectedOptions[0].text).width + 28 <= n.clientWidth; }"""
        )
        assert fits, f"{select} label is cut off"
    await page.screenshot_done()
    assert not page.console_errors, page.console_errors


async def test_small_controls_tell_the_truth(open_page):  # noqa: F811
    """Mute says muted; Enter while disconnected says why; a filter with no match says so; the
    agent is named from the start; the empty-state text goes once connected."""
    page = await open_page("websocket")
    assert await page.testid("current-agent").inner_text() == "agent: triage_agent"
    await page.testid("text-input").fill("Hello?")
    await page.testid("text-input").press("Enter")
    assert "Connect" in await page.testid("composer-hint").inner_text()
    assert await page.testid("text-input").input_value() == "Hello?"  # not lost
    assert await page.testid("conversation-empty").is_visible()
    await connect(page, "websocket")
    assert await page.testid("conversation-empty").is_hidden()
    assert await page.testid("composer-hint").is_hidden()
    await page.wait_for_selector("[data-testid='mic'][data-state='live']", timeout=10000)
    await page.testid("mute").click()
    assert await page.testid("mic-status").inner_text() == "microphone muted"
    await page.testid("mute").click()
    assert (await page.testid("mic-status").inner_text()).startswith("microphone on")
    await page.testid("events-filter").fill("no-such-event")
    assert "No event matches" in await page.testid("events-empty").inner_text()
    await page.testid("events-filter").fill("")
    assert await page.testid("events-empty").is_hidden()
    assert not page.console_errors, page.console_errors


async def test_mute_is_off_when_the_microphone_is_denied(open_page):  # noqa: F811
    page = await open_page("websocket")
    await page.evaluate(
        """() => { navigator.mediaDevices.getUserMedia = () =>
            Promise.reject(new DOMException('denied', 'NotAllowedError')); }"""
    )
    await connect(page, "websocket")
    await page.wait_for_selector("[data-testid='mic'][data-state='error']", timeout=10000)
    assert await page.testid("mute").is_disabled()
    assert "You can still type" in await page.testid("mic-status").inner_text()
    assert await page.testid("send").is_enabled()


async def test_copy_link_copies_a_join_link(open_page, server_url):  # noqa: F811
    page = await open_page("websocket", permissions=["clipboard-read", "clipboard-write"])
    assert await page.testid("copy-link").is_hidden()
    await connect(page, "websocket")
    session = await page.testid("session").inner_text()
    assert await page.locator("header a").count() == 0  # no same-tab link that drops the call
    await page.testid("copy-link").click()
    await page.wait_for_selector("[data-testid='copy-link'][data-copied='true']")
    copied = await page.evaluate("navigator.clipboard.readText()")
    assert copied.endswith(f"/?session={session}")
    assert await page.testid("status").get_attribute("data-state") == "connected"
