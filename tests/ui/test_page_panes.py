"""The latency panel per user turn and the runs pane with its controls (issue 15)."""

from __future__ import annotations

import json
import re

import pytest

from tests.ui.test_page import open_page  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

UNIT = re.compile(r"(\d+ ms|\d+\.\d s|—)")


async def replay(page, events) -> None:
    for ev in events:
        await page.evaluate("(ev) => window.voxgate.app.receive(ev)", ev)


def response(rid: str, status: str = "completed", output: list | None = None) -> dict:
    return {
        "type": "response.done",
        "response": {"id": rid, "status": status, "output": output or []},
    }


def metrics(rid: str, **values: float) -> dict:
    return {"type": "voxgate.metrics", "response_id": rid, "metrics": values}


TOOL_TURN = [  # one spoken turn answered by two responses: a tool call, then the words
    {"type": "input_audio_buffer.speech_stopped", "item_id": "u1"},
    {"type": "response.created", "response": {"id": "r1"}},
    metrics("r1", stt_ms=320, llm_first_token_ms=739),
    response("r1", output=[{"id": "f1", "type": "function_call", "name": "get_weather"}]),
    {"type": "response.created", "response": {"id": "r2"}},
    {"type": "response.output_text.delta", "item_id": "a2", "delta": "Sunny."},
    metrics("r2", llm_first_token_ms=1500, tts_first_audio_ms=9000),
    response("r2"),
]
CANCELLED_TURN = [
    {"type": "input_audio_buffer.speech_stopped", "item_id": "u2"},
    {"type": "response.created", "response": {"id": "r3"}},
    metrics("r3"),
    response("r3", status="cancelled"),
]


async def tile(page, key: str) -> tuple[str, str]:
    node = page.locator(f"[data-testid='metrics'] [data-metric='{key}']")
    return (
        await node.locator(".metric-value").inner_text(),
        await node.locator(".metric-note").inner_text(),
    )


async def test_latency_is_grouped_by_turn_and_keeps_the_last_good_values(open_page):  # noqa: F811
    page = await open_page("websocket")
    await replay(page, TOOL_TURN)
    assert await page.testid("metrics").get_attribute("data-turns") == "1"  # not two bars
    assert await page.locator("[data-testid='metrics-chart'] rect").count() == 3
    assert (await tile(page, "stt"))[0] == "320 ms"
    assert (await tile(page, "llm"))[0] == "739 ms"  # the turn's first token
    assert (await tile(page, "tts"))[0] == "9.0 s"  # one format: s from a second up
    await replay(page, CANCELLED_TURN)
    for key, value in (("stt", "320 ms"), ("llm", "739 ms"), ("tts", "9.0 s")):
        shown, _ = await tile(page, key)
        assert shown == value, f"{key} blanked after a cancelled reply"
    # every number on the page is in one format: the tiles, the axis, the table, the tooltips
    axis = await page.locator("[data-testid='metrics-chart'] text.axis").all_text_contents()
    ticks = [t for t in axis if not t.isdigit() or t == "0"]
    assert ticks and all(t == "0" or UNIT.fullmatch(t) for t in ticks), ticks
    titles = await page.locator("[data-testid='metrics-chart'] title").all_text_contents()
    assert all(UNIT.search(t) for t in titles), titles
    rows = page.testid("metrics-table").locator("tbody tr")
    assert await rows.count() == 1
    cells = await rows.first.locator("td").all_text_contents()
    assert cells[:3] == ["320 ms", "739 ms", "9.0 s"]
    assert all(UNIT.fullmatch(c) for c in cells), cells
    for key in ("stt", "llm", "tts", "v2v"):
        assert await page.locator(f"[data-testid='metrics'] [data-metric='{key}']").get_attribute(
            "title"
        )
    assert not page.console_errors, page.console_errors


async def test_voice_to_voice_dot_has_a_tooltip(open_page):  # noqa: F811
    page = await open_page("websocket")
    report = {**metrics("r1", stt_ms=320, voice_to_voice_ms=1234.0), "cost_usd": 0.012}
    await replay(page, [*TOOL_TURN[:3], report])
    title = await page.locator("[data-testid='metrics-chart'] circle.v2v-dot title").text_content()
    assert title == "turn 1 · voice-to-voice 1.2 s"
    assert "cost $0.0120" in await page.locator(".metric-usage").inner_text()


RUN = [
    {
        "type": "voxgate.run.started",
        "run_id": "run_9",
        "agent": "researcher",
        "task": "Compare fares to Lisbon",
    },
    {
        "type": "voxgate.run.event",
        "run_id": "run_9",
        "agent": "researcher",
        "event": {"type": "textmessage", "data": {"source": "researcher", "content": "Looking."}},
    },
]
DONE = [
    {"type": "voxgate.run.event", "run_id": "run_9", "agent": "researcher",
     "event": {"type": "done", "data": {"run_id": "run_9", "status": "completed", "error": None,
               "final": json.dumps({"cheapest": "TAP 1, 89 EUR, leaves 07:05 from Paris Orly",
                                    "others": ["easyJet 97 EUR", "Transavia 102 EUR"]})}}},
    {"type": "voxgate.run.status", "run_id": "run_9", "agent": "researcher", "status": "completed", "error": None},
]  # fmt: skip


async def test_runs_keep_their_task_show_results_and_can_be_controlled(open_page):  # noqa: F811
    page = await open_page("websocket")
    posted: list[str] = []

    async def fake_api(route):
        posted.append(route.request.url)
        await route.fulfill(json={"status": "paused"})

    await page.route("**/api/runs/*/pause", fake_api)
    await replay(page, RUN)
    await page.testid("tab-runs").click()
    card = page.testid("runs").locator("[data-run-id='run_9']")
    assert await card.locator(".run-pause").is_visible()
    assert await card.locator(".run-cancel").is_visible()
    assert await card.locator(".run-resume").is_hidden()
    await card.locator(".run-pause").click()
    await page.wait_for_function("document.querySelector('.run-pause').disabled === false")
    assert posted and posted[0].endswith("/api/runs/run_9/pause")
    await replay(
        page,
        [
            {
                "type": "voxgate.run.status",
                "run_id": "run_9",
                "agent": "researcher",
                "status": "paused",
            }
        ],
    )
    assert await card.locator(".run-resume").is_visible()
    assert await card.locator(".run-pause").is_hidden()
    await replay(page, DONE)
    assert await card.locator(".run-controls").is_hidden()
    result = await card.locator(".run-message.result .run-text").inner_text()
    assert result.startswith("cheapest: TAP 1, 89 EUR") and "{" not in result
    clipped = await card.locator(".run-text").evaluate_all(
        "ns => ns.filter(n => n.scrollWidth > n.clientWidth + 1).length"
    )
    assert clipped == 0
    notes = await page.locator(
        "[data-testid='conversation'] [data-testid='note']"
    ).all_text_contents()
    assert "researcher: completed — “Compare fares to Lisbon”" in notes
    assert not page.console_errors, page.console_errors


async def test_a_refused_run_control_says_why(open_page):  # noqa: F811
    page = await open_page("websocket")
    await replay(page, RUN)
    await page.testid("tab-runs").click()
    card = page.testid("runs").locator("[data-run-id='run_9']")
    await card.locator(".run-cancel").click()  # the server has no such run: 404
    error = card.locator(".run-message.error .run-text")
    await error.wait_for()
    assert (await error.inner_text()).startswith("Could not cancel the run:")
