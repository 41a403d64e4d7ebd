"""The web page as a user drives it: headless Chromium, a fake microphone, a live voxgate server."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import uvicorn

from tests.conftest import free_port
from voxgate.server.app import create_app
from voxgate.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

TRANSPORTS = ["webrtc", "websocket"]


class Page:
    """A page plus what it logged: console errors fail the test."""

    def __init__(self, page, name: str, artifacts) -> None:
        self.page = page
        self.name = name
        self.artifacts = artifacts
        self.console_errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))

    def __getattr__(self, name: str):
        return getattr(self.page, name)

    def testid(self, id_: str):
        return self.page.get_by_test_id(id_)

    async def debug(self, expr: str):
        return await self.page.evaluate(f"window.voxgate.{expr}")

    async def wait_debug(self, expr: str, timeout: float = 60) -> None:
        await self.page.wait_for_function(f"window.voxgate.{expr}", timeout=timeout * 1000)

    async def screenshot_done(self) -> None:
        path = self.artifacts / f"{self.name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        print(f"\nscreenshot: {path}")


@pytest_asyncio.fixture
async def open_page(browser, server_url, artifacts, request) -> AsyncIterator:
    contexts = []

    async def open_(transport: str | None = None, *, base: str | None = None, **context_args):
        context = await browser.new_context(**context_args)
        contexts.append(context)
        page = Page(
            await context.new_page(), request.node.name.replace("[", "-").rstrip("]"), artifacts
        )
        url = (base or server_url.replace("ws://", "http://")) + "/"
        if transport:
            url += f"?transport={transport}"
        await page.goto(url)
        await page.wait_for_selector("body[data-ready='true']")
        return page

    yield open_
    for context in contexts:
        await context.close()


async def connect(page: Page, transport: str) -> None:
    await page.testid("connect").click()
    await page.wait_for_selector("[data-testid='status'][data-state='connected']", timeout=30000)
    assert await page.debug("transport") == transport


async def spoken_turn_shown(page: Page) -> None:
    """The fake mic's question (after a few seconds of silence) and a spoken answer appear."""
    user = page.locator("[data-testid='conversation'] .bubble.user:not(.pending)")
    await user.first.wait_for(timeout=60000)
    heard = (await user.first.inner_text()).lower()
    assert "capital" in heard and "france" in heard
    agent = page.locator("[data-testid='conversation'] .bubble.agent:not(.streaming)")
    await agent.first.wait_for(timeout=60000)
    assert (await agent.first.locator(".bubble-text").inner_text()).strip()
    # the agent's voice reached the page (~0.5 s of it: frames that queued up arrive as one)
    await page.wait_debug("agentAudioChunks > 10 || window.voxgate.audioBytesReceived > 24000")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_spoken_turn(open_page, transport):
    page = await open_page(transport)
    await connect(page, transport)
    await spoken_turn_shown(page)
    await page.wait_for_selector("[data-testid='metrics'][data-turns='1']", timeout=30000)
    for key in ("stt", "llm", "tts", "v2v"):
        value = await page.locator(
            f"[data-testid='metrics'] [data-metric='{key}'] .metric-value"
        ).inner_text()
        assert re.fullmatch(r"[\d.]+ m?s", value), f"{key}: {value!r}"
    assert await page.locator("[data-testid='metrics-chart'] rect").count() >= 2
    types = await page.evaluate("window.voxgate.events.map(e => e.type)")
    assert "response.done" in types and "voxgate.metrics" in types
    if transport == "webrtc":
        assert "response.output_audio.delta" not in types  # audio rode the track
        assert "voxgate.webrtc.connected" in types
        assert "connected" in await page.testid("transport-detail").inner_text()
    else:
        assert await page.debug("audioFramesSent") > 10
    assert await page.locator("[data-testid='events'] li").count() > 5
    print(
        await page.evaluate(
            """(() => { const v = window.voxgate; const t0 = v.eventTimes[v.events.findIndex(e => e.type === 'input_audio_buffer.speech_stopped')];
            const at = (type) => Math.round(v.eventTimes[v.events.findIndex(e => e.type === type)] - t0);
            return {created: at('response.created'), delta: at('response.output_audio_transcript.delta'), done: at('response.done'),
                    started: at('output_audio_buffer.started'), first_audio: Math.round(v.agentAudioTimes[0] - t0)}; })()"""
        )
    )
    await page.screenshot_done()
    assert not page.console_errors, page.console_errors


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_mute_then_interrupt(open_page, transport):
    page = await open_page(transport)
    await connect(page, transport)
    await page.testid("mute").click()  # before the fake mic's question
    assert await page.testid("mute").get_attribute("aria-pressed") == "true"
    await page.testid("text-input").fill("Tell me a long story about a knight and a dragon.")
    await page.testid("send").click()
    # queued reply audio comes merged over /ws: count it in bytes too (0.5 s)
    await page.wait_debug("agentAudioChunks > 5 || window.voxgate.audioBytesReceived > 24000")
    await page.testid("interrupt").click()
    await page.wait_for_function(
        "window.voxgate.events.some(e => e.type === 'response.done'"
        " && e.response.status === 'cancelled')",
        timeout=10000,
    )
    # The reply's bubble is cut to what was heard (and marked), or gone if nothing was.
    agent = page.locator("[data-testid='conversation'] .bubble.agent")
    await page.wait_for_function(
        "!document.querySelector(\"[data-testid='conversation'] .bubble.agent.streaming\")"
    )
    for bubble in await agent.all():
        assert "interrupted" in (await bubble.get_attribute("class") or "")
    await asyncio.sleep(1.0)  # packets in flight drain
    heard = await page.debug("agentAudioChunks")
    await asyncio.sleep(1.5)
    assert await page.debug("agentAudioChunks") == heard, "agent audio went on after interrupt"
    # Muted through the time the fake mic spoke its question: the server heard no speech.
    await asyncio.sleep(max(0.0, 6.0 - 2.5))
    types = await page.evaluate("window.voxgate.events.map(e => e.type)")
    assert "input_audio_buffer.speech_started" not in types
    assert await page.locator("[data-testid='conversation'] .bubble.user").count() == 1  # typed
    await page.screenshot_done()
    assert not page.console_errors, page.console_errors


async def test_phone_layout_and_panes(open_page):
    page = await open_page("websocket", viewport={"width": 390, "height": 844}, is_mobile=True)
    await connect(page, "websocket")
    await page.testid("text-input").fill("Say hello to me.")
    await page.testid("send").click()
    await page.locator("[data-testid='conversation'] .bubble.agent:not(.streaming)").first.wait_for(
        timeout=60000
    )
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page is {width}px wide on a 390px screen"
    await page.testid("events-filter").fill("response.done")
    shown = page.locator("[data-testid='events'] li:not([hidden])")
    assert await shown.count() >= 1
    assert {await r.get_attribute("data-type") for r in await shown.all()} == {"response.done"}
    await page.testid("tab-tools").click()
    assert await page.testid("tools").is_visible() or await page.testid("tools-empty").is_visible()
    await page.testid("tab-events").click()
    await page.screenshot_done()
    assert not page.console_errors, page.console_errors


@pytest_asyncio.fixture
async def webrtc_off_url(models) -> AsyncIterator[str]:
    settings = Settings(_env_file=None, webrtc_enabled=False)  # type: ignore[call-arg]
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, models=models), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_webrtc_flag_off_falls_back_to_websocket(open_page, webrtc_off_url):
    page = await open_page("webrtc", base=webrtc_off_url)
    assert await page.testid("transport").input_value() == "websocket"
    await connect(page, "websocket")
    await page.testid("mute").click()
    await page.testid("text-input").fill("Say hello to me.")
    await page.testid("send").click()
    await page.wait_debug("agentAudioChunks > 3 || window.voxgate.audioBytesReceived > 14400")
    await page.screenshot_done()
    assert not page.console_errors, page.console_errors


AGENT_EVENTS = [
    {
        "type": "voxgate.tool.started",
        "name": "get_weather",
        "call_id": "call_1",
        "arguments": '{"city": "Paris"}',
        "agent": "triage_agent",
    },
    {
        "type": "voxgate.tool.completed",
        "name": "get_weather",
        "call_id": "call_1",
        "arguments": '{"city": "Paris"}',
        "output": '{"forecast": "sunny, 21 C"}',
        "duration_ms": 12.5,
        "status": "ok",
        "agent": "triage_agent",
    },
    {
        "type": "voxgate.tool.started",
        "name": "transfer_to_faq_agent",
        "call_id": "call_2",
        "arguments": "{}",
        "agent": "triage_agent",
    },
    {"type": "voxgate.handoff", "call_id": "call_2", "from": "triage_agent", "to": "faq_agent"},
    {
        "type": "voxgate.tool.completed",
        "name": "transfer_to_faq_agent",
        "call_id": "call_2",
        "arguments": "{}",
        "output": '{"assistant": "faq_agent"}',
        "duration_ms": 0.4,
        "status": "ok",
        "agent": "triage_agent",
    },
    {
        "type": "voxgate.tool.started",
        "name": "faq_lookup_tool",
        "call_id": "call_3",
        "arguments": '{"question": "wifi"}',
        "agent": "faq_agent",
    },
    {
        "type": "voxgate.tool.completed",
        "name": "faq_lookup_tool",
        "call_id": "call_3",
        "arguments": '{"question": "wifi"}',
        "output": '{"error": "timed out"}',
        "duration_ms": 5000,
        "status": "timeout",
        "agent": "faq_agent",
    },
    {
        "type": "voxgate.run.started",
        "run_id": "run_1",
        "agent": "researcher",
        "task": "Compare fares to Lisbon",
    },
    {
        "type": "voxgate.run.event",
        "run_id": "run_1",
        "agent": "researcher",
        "event": {
            "type": "textmessage",
            "data": {"source": "researcher", "content": "Found three fares."},
        },
    },
    {
        "type": "voxgate.run.status",
        "run_id": "run_1",
        "agent": "researcher",
        "status": "completed",
        "error": None,
    },
]


async def test_tools_handoffs_and_runs_panes_render_agent_events(open_page):
    page = await open_page("websocket")
    for ev in AGENT_EVENTS:
        await page.evaluate("(ev) => window.voxgate.app.receive(ev)", ev)
    await page.testid("tab-tools").click()
    tools = page.testid("tools")
    assert await page.testid("tools-count").inner_text() == "3"
    weather = tools.locator("[data-call-id='call_1']")
    assert await weather.get_attribute("data-status") == "ok"
    assert "Paris" in await weather.locator(".tool-args").inner_text()
    assert "sunny" in await weather.locator(".tool-output").inner_text()
    assert await weather.locator(".tool-time").inner_text() == "13 ms"
    assert await tools.locator("[data-call-id='call_3']").get_attribute("data-status") == "timeout"
    handoff = await tools.locator(".handoff").inner_text()
    assert "triage_agent" in handoff and "faq_agent" in handoff
    assert await page.testid("current-agent").inner_text() == "agent: faq_agent"
    notes = await page.locator(
        "[data-testid='conversation'] [data-testid='note']"
    ).all_text_contents()
    assert "triage_agent → faq_agent" in notes
    assert any(n.startswith("get_weather(city: Paris) → forecast: sunny, 21 C") for n in notes)
    assert "researcher: completed — “Compare fares to Lisbon”" in notes  # the task kept (issue 15)
    await page.screenshot_done()
    await page.testid("tab-runs").click()
    run = page.testid("runs").locator("[data-run-id='run_1']")
    assert await run.get_attribute("data-status") == "completed"
    assert (
        "Compare fares" in await run.inner_text() and "Found three fares." in await run.inner_text()
    )
    await page.testid("tab-events").click()
    await page.testid("events-filter").fill("voxgate.tool")
    assert await page.locator("[data-testid='events'] li:not([hidden])").count() == 6
    assert not page.console_errors, page.console_errors


async def test_agent_choice_starts_the_session_with_that_agent(open_page):
    page = await open_page("webrtc")
    options = await page.testid("agent").locator("option").all_inner_texts()
    assert options == ["triage agent", "faq agent", "seat booking agent"]
    await page.testid("agent").select_option("faq_agent")
    await connect(page, "webrtc")
    await page.testid("mute").click()
    await page.testid("text-input").fill("Hello.")
    await page.testid("send").click()
    await page.wait_for_function(
        "window.voxgate.events.some(e => e.type === 'session.updated'"
        " && e.session.instructions.startsWith('You are an FAQ agent'))",
        timeout=30000,
    )
    assert not page.console_errors, page.console_errors


async def test_a_typed_request_shows_its_tool_call(open_page):
    page = await open_page("webrtc")
    await connect(page, "webrtc")
    await page.testid("mute").click()
    await page.testid("text-input").fill("What's the weather in Paris?")
    await page.testid("send").click()
    card = page.testid("tools").locator(".tool[data-status='ok']")
    await card.first.wait_for(state="attached", timeout=60000)
    assert "get_weather" in await card.first.locator(".tool-name").inner_text()
    assert "Paris" in await card.first.locator(".tool-args").inner_text()
    await page.locator("[data-testid='conversation'] .bubble.agent:not(.streaming)").first.wait_for(
        timeout=60000
    )
    await page.testid("tab-tools").click()
    await page.screenshot_done()
    assert not page.console_errors, page.console_errors
