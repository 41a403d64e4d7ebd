"""Turn states, reconnects and the transcript, as a user meets them in Chromium (issue 15)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
import uvicorn

from tests.conftest import free_port
from tests.ui.test_page import TRANSPORTS, connect, open_page  # noqa: F401 (a fixture)
from voxgate.server.app import create_app

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CONVERSATION = "[data-testid='conversation']"


def unexpected(errors: list[str]) -> list[str]:
    """Console errors other than Chromium's own line for a refused connection (a server down)."""
    return [e for e in errors if "ERR_CONNECTION_REFUSED" not in e]


async def notes(page) -> list[str]:
    return await page.locator(f"{CONVERSATION} [data-testid='note']").all_text_contents()


async def wait_state(page, state: str, timeout: float = 150) -> None:
    """The turn pill reaches ``state`` (idle is invisible, so not a visibility wait)."""
    await page.wait_for_function(
        f"document.querySelector(\"[data-testid='activity']\").dataset.state === '{state}'",
        timeout=timeout * 1000,
    )


async def test_turn_states_of_a_spoken_turn(open_page):  # noqa: F811
    """Listening while the user speaks, thinking (a clock, a placeholder bubble), then speaking.
    Spoken over the WebSocket only: on a loaded machine the server's VAD may split the question
    over WebRTC and drop replies (the typed test below covers WebRTC)."""
    page = await open_page("websocket")
    activity = page.testid("activity")
    assert await activity.get_attribute("data-state") == "idle"
    await connect(page, "websocket")
    await wait_state(page, "listening", 30)
    await wait_state(page, "thinking", 30)
    placeholder = page.locator(f"{CONVERSATION} [data-testid='thinking']")
    assert await placeholder.count() == 1
    try:
        await page.wait_for_function(
            "window.voxgate.turnStates.includes('speaking')", timeout=150000
        )
        await wait_state(page, "idle")
    finally:
        print(await page.debug("turnStates"))
    states = await page.debug("turnStates")
    # the server's VAD may split the question (listening ↔ thinking) before the answer comes
    first = states.index("speaking")
    assert states[0] == "listening" and states[first - 1] == "thinking", states
    assert await placeholder.count() == 0  # the reply's own bubble replaced it
    assert await page.locator(f"{CONVERSATION} .bubble.agent").count() >= 1
    # the live region read whole utterances, never a streamed chunk
    announced = await page.testid("announcer").inner_text()
    assert announced.startswith("Agent: ") and len(announced) > len("Agent: ") + 3
    await page.screenshot_done()
    assert not page.console_errors, page.console_errors


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_turn_states_of_a_typed_turn(open_page, transport):  # noqa: F811
    """Thinking with a running clock and a placeholder, then speaking (WebRTC: the server's
    output_audio_buffer events; WebSocket: the page's own playback), then idle."""
    page = await open_page(transport)
    await connect(page, transport)
    await page.testid("mute").click()
    await page.testid("text-input").fill("Say hello to me.")
    await page.testid("send").click()
    assert await page.testid("activity").get_attribute("data-state") == "thinking"
    assert await page.locator(f"{CONVERSATION} [data-testid='thinking']").count() == 1
    await page.wait_for_function(
        "document.querySelector('.activity-clock').textContent !== '0.0 s'"
        " || window.voxgate.turnStates.includes('speaking')",
        timeout=30000,
    )
    await page.wait_for_function("window.voxgate.turnStates.includes('speaking')", timeout=150000)
    await wait_state(page, "idle")
    states = await page.debug("turnStates")
    # (the voice may pause and resume after the reply is done: speaking ↔ idle at the end)
    assert states[:2] == ["thinking", "speaking"] and set(states[2:]) <= {"speaking", "idle"}
    assert await page.locator(f"{CONVERSATION} [data-testid='thinking']").count() == 0
    assert not page.console_errors, page.console_errors


async def test_cancelled_and_failed_replies_are_marked(open_page):  # noqa: F811
    """A reply cancelled before it said anything, and one that failed, leave a note."""
    page = await open_page("websocket")
    receive = "(ev) => window.voxgate.app.receive(ev)"
    await page.evaluate(receive, {"type": "input_audio_buffer.speech_started", "item_id": "u1"})
    assert await page.testid("activity").get_attribute("data-state") == "listening"
    await page.evaluate(receive, {"type": "input_audio_buffer.speech_stopped", "item_id": "u1"})
    assert await page.testid("activity").get_attribute("data-state") == "thinking"
    await page.evaluate(receive, {"type": "response.created", "response": {"id": "r1"}})
    await page.evaluate(
        receive,
        {"type": "response.done", "response": {"id": "r1", "status": "cancelled", "output": []}},
    )
    assert await page.testid("activity").get_attribute("data-state") == "idle"
    assert await page.locator(f"{CONVERSATION} [data-testid='thinking']").count() == 0
    assert "Reply cancelled before the agent said anything." in await notes(page)
    await page.evaluate(receive, {"type": "response.created", "response": {"id": "r2"}})
    assert await page.testid("activity").get_attribute("data-state") == "thinking"
    failed = {
        "id": "r2",
        "status": "failed",
        "output": [],
        "status_details": {"error": {"message": "the model is unavailable", "code": "x"}},
    }
    await page.evaluate(receive, {"type": "response.done", "response": failed})
    assert "The reply failed: the model is unavailable." in await notes(page)
    assert await page.testid("activity").get_attribute("data-state") == "idle"


@pytest_asyncio.fixture
async def restartable(models) -> AsyncIterator[tuple[str, Callable]]:
    """A server on a fixed port that a test can stop and start again (a restart)."""
    from voxgate.settings import Settings

    port = free_port()
    state: dict = {}

    async def start() -> None:
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings, models=models), host="127.0.0.1", port=port, log_level="error"
            )
        )
        state["server"], state["task"] = server, asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)

    async def stop() -> None:
        state["server"].should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(state["task"], 20)

    async def restart(down_s: float = 2.5) -> None:
        await stop()
        await asyncio.sleep(down_s)  # the page notices and retries meanwhile
        await start()

    await start()
    yield f"http://127.0.0.1:{port}", restart
    await stop()


async def test_reconnect_after_a_server_restart(open_page, restartable):  # noqa: F811
    """Plain words, one banner and one note, an automatic reconnect, and an honest note: the
    new server restored the conversation from its store."""
    base, restart = restartable
    page = await open_page("websocket", base=base)
    await connect(page, "websocket")
    await page.testid("mute").click()
    await page.testid("text-input").fill("Hello there.")
    await page.testid("send").click()
    await page.locator(f"{CONVERSATION} .bubble.user:not(.sending)").wait_for(timeout=30000)
    await restart()
    await page.wait_for_selector("[data-testid='status'][data-state='connected']", timeout=60000)
    types = await page.evaluate("window.voxgate.events.map(e => e.type)")
    assert types.count("session.created") == 2
    sessions = await page.debug("serverSessions")
    assert len(sessions) == 2 and sessions[0] != sessions[1]
    lines = await notes(page)
    assert sum("reconnect" in n.lower() for n in lines) == 1, lines
    await page.wait_for_function(
        "[...document.querySelectorAll('[data-testid=note]')]"
        ".some(n => n.textContent.includes('restored the conversation above'))",
        timeout=30000,
    )
    assert await page.locator(f"{CONVERSATION} .bubble.user.forgotten").count() == 0
    assert await page.locator(f"{CONVERSATION} .bubble.user").count() == 1
    assert await page.testid("errors").locator(".error-row").count() == 0  # cleared on success
    await page.screenshot_done()
    assert not unexpected(page.console_errors), page.console_errors


async def test_banner_is_plain_and_offers_reconnect(open_page, restartable):  # noqa: F811
    """While the server is down: a plain sentence with the raw detail aside, and Reconnect."""
    base, restart = restartable
    page = await open_page("websocket", base=base)
    await connect(page, "websocket")
    task = asyncio.create_task(restart(down_s=4.0))
    banner = page.testid("errors").locator(".error-row")
    await banner.first.wait_for(timeout=20000)
    text = await banner.first.inner_text()
    assert "code 1012" not in text and "Failed to fetch" not in text
    assert "server" in text.lower()
    assert await page.testid("reconnect").is_visible()
    assert await page.testid("status").get_attribute("data-state") == "reconnecting"
    await task
    await page.wait_for_selector("[data-testid='status'][data-state='connected']", timeout=60000)
    assert await banner.count() == 0
    assert not unexpected(page.console_errors), page.console_errors


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_transcript_kept_across_disconnect_and_connect(open_page, transport):  # noqa: F811
    """Disconnect keeps the conversation on screen; Connect rejoins the session, which the
    server keeps a while after its last client left (the grace period), and says so; New
    conversation clears it."""
    page = await open_page(transport)
    await connect(page, transport)
    await page.testid("mute").click()
    await page.testid("text-input").fill("Remember the word apricot.")
    await page.testid("send").click()
    user = page.locator(f"{CONVERSATION} .bubble.user:not(.sending)")
    await user.wait_for(timeout=30000)
    session = await page.testid("session").inner_text()
    await page.testid("connect").click()  # Disconnect
    await page.wait_for_selector("[data-testid='status'][data-state='disconnected']")
    assert await user.count() == 1
    assert await page.testid("new-conversation").is_visible()
    assert await page.testid("conversation-empty").is_hidden()
    await connect(page, transport)
    assert await page.testid("session").inner_text() == session
    await page.wait_for_function("window.voxgate.serverSessions.length >= 2", timeout=30000)
    assert await user.count() == 1
    lines = await notes(page)
    assert "Reconnected: the conversation continues." in lines, lines
    await page.testid("connect").click()
    await page.testid("new-conversation").click()
    assert await page.locator(f"{CONVERSATION} > *").count() == 0
    assert await page.testid("conversation-empty").is_visible()
    assert not page.console_errors, page.console_errors
