"""``/api/runs`` end to end: a real server, a real subprocess runner, a live voice session."""

import asyncio
import json
import uuid
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import uvicorn
import websockets

from tests.conftest import free_port
from voxgate.client import VoiceClient
from voxgate.server.app import create_app

pytestmark = pytest.mark.e2e

WORKER = Path(__file__).with_name("worker.py")
AGENTS = f"""
import sys
from voxgate.agents import Agent, CommandRunner, delegate

worker = CommandRunner("worker", [sys.executable, {str(WORKER)!r}, "{{task}}"],
                       description="a repo tool", default_task="index the repo")
slow = CommandRunner("slow_worker", [sys.executable, {str(WORKER)!r}, "{{task}}"],
                     env={{"WORKER_STEPS": "400", "WORKER_DELAY": "0.02"}})
agent = Agent("assistant", "You are a helpful assistant. Answer in one short sentence.",
              tools=[delegate(worker), delegate(slow)])
"""


@pytest_asyncio.fixture(scope="module")
async def base(settings, models, tmp_path_factory):
    path = tmp_path_factory.mktemp("agents") / "agents.py"
    path.write_text(AGENTS)
    app = create_app(settings.model_copy(update={"agents": str(path)}), models=models)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    await task


async def receive_until_done(ws):
    events = []
    async with asyncio.timeout(30):
        while True:
            ev = json.loads(await ws.recv())
            events.append(ev)
            if ev["type"] == "done":
                return events


async def test_run_streams_over_websocket_and_is_narrated_into_the_live_session(base):
    session_id = uuid.uuid4().hex
    async with VoiceClient(f"ws://{base}/ws/{session_id}") as voice:
        await voice.send_json(
            {
                "type": "session.update",
                "session": {"type": "realtime", "output_modalities": ["text"]},
            }
        )
        await voice.wait_for(
            lambda ev: (
                ev["type"] == "session.updated" and ev["session"]["output_modalities"] == ["text"]
            )
        )
        async with websockets.connect(f"ws://{base}/api/runs/worker?session_id={session_id}") as ws:
            await ws.send(json.dumps({"type": "run", "data": ""}))  # the default task
            events = await receive_until_done(ws)
        started, *rest = events
        assert started["type"] == "started" and started["data"]["narrated"] is True
        assert started["data"]["task"] == "index the repo"
        types = [ev["type"] for ev in rest]
        assert types == ["textmessage", "toolcallrequest", *["textmessage"] * 4, "done"]
        assert rest[0]["data"] == {"source": "worker", "content": "working on: index the repo"}
        assert rest[-1]["data"]["status"] == "completed"
        run_id = started["data"]["id"]

        # narrated: shown as voxgate.run.* events, the final message spoken by the engine
        _, note = await voice.wait_for(
            lambda ev: (
                ev["type"] == "conversation.item.added" and ev["item"].get("role") == "system"
            )
        )
        assert "finished: index the repo is done" in note["item"]["content"][0]["text"]
        index = next(i for i, (_, ev) in enumerate(voice.received.events) if ev is note)
        _, reply = await voice.wait_for("response.done", after=index)
        assert reply["response"]["status"] == "completed"
        assert reply["response"]["output"][0]["content"][0]["text"].strip()
        shown = [ev for _, ev in voice.received.events if ev["type"].startswith("voxgate.run.")]
        assert shown[0]["type"] == "voxgate.run.started" and shown[0]["run_id"] == run_id
        assert shown[-1]["type"] == "voxgate.run.status" and shown[-1]["status"] == "completed"
        tool_events = [ev for ev in shown if ev.get("event", {}).get("type") == "toolcallrequest"]
        assert len(tool_events) == 1

    async with httpx.AsyncClient(base_url=f"http://{base}") as http:
        status = (await http.get(f"/api/runs/{run_id}")).json()
        assert status["status"] == "completed" and status["session_id"] == session_id
        assert status["last_message"] == "finished: index the repo is done"
        listing = (await http.get("/api/runs")).json()
        assert {r["name"] for r in listing["runners"]} == {"worker", "slow_worker"}
        missing = await http.get("/api/runs/run_nope")
        assert missing.status_code == 404 and "no run" in missing.json()["detail"]


async def test_pause_resume_cancel_over_http_and_bad_messages(base):
    async with websockets.connect(f"ws://{base}/api/runs/slow_worker") as ws:
        await ws.send("not json")
        assert "not valid JSON" in json.loads(await ws.recv())["data"]["message"]
        await ws.send("[" * 1000 + "]" * 1000)  # raised RecursionError: the socket dropped
        assert "deeper than" in json.loads(await ws.recv())["data"]["message"]
        await ws.send(b"\x00\x01")
        assert "not binary" in json.loads(await ws.recv())["data"]["message"]
        await ws.send(json.dumps({"type": "fly"}))
        assert "unknown message type 'fly'" in json.loads(await ws.recv())["data"]["message"]
        await ws.send(json.dumps({"type": "pause"}))
        assert "no run in progress" in json.loads(await ws.recv())["data"]["message"]
        await ws.send(json.dumps({"type": "run", "data": "big job"}))
        started = json.loads(await ws.recv())
        run_id = started["data"]["id"]
        assert started["data"]["narrated"] is False
        assert json.loads(await ws.recv())["type"] == "textmessage"
        await ws.send(json.dumps({"type": "run", "data": "another"}))
        async with httpx.AsyncClient(base_url=f"http://{base}") as http:
            assert (await http.post(f"/api/runs/{run_id}/pause")).json()["status"] == "paused"
            assert (await http.post(f"/api/runs/{run_id}/resume")).json()["status"] == "running"
            assert (await http.post(f"/api/runs/{run_id}/cancel")).json()["status"] == "cancelled"
        events = await receive_until_done(ws)
        errors = [ev for ev in events if ev["type"] == "error"]
        assert "a run is in progress" in errors[0]["data"]["message"]
        statuses = [ev["data"]["status"] for ev in events if ev["type"] == "status"]
        assert statuses == ["paused", "running"]
        assert events[-1]["data"]["status"] == "cancelled"

    async with websockets.connect(f"ws://{base}/api/runs/nobody") as ws:
        await ws.send(json.dumps({"type": "run", "data": "x"}))
        assert "no runner named 'nobody'" in json.loads(await ws.recv())["data"]["message"]


async def test_the_web_page_shows_a_run_and_its_narration(base):
    playwright_api = pytest.importorskip("playwright.async_api")
    session_id = uuid.uuid4().hex
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"],
        )
        try:
            page = await browser.new_page()
            await page.goto(f"http://{base}/?session={session_id}")
            await page.click("[data-testid=connect]")
            await page.wait_for_function("window.voxgate.state === 'connected'", timeout=20000)
            async with websockets.connect(
                f"ws://{base}/api/runs/worker?session_id={session_id}"
            ) as ws:
                await ws.send(json.dumps({"type": "run", "data": "sort the photos"}))
                assert json.loads(await ws.recv())["data"]["narrated"] is True
                await receive_until_done(ws)
            notes = page.locator("[data-testid=note]")
            await notes.filter(has_text="worker: completed").wait_for(timeout=20000)
            await notes.filter(has_text="finished: sort the photos is done").wait_for()
            await notes.filter(has_text="worker calls grep").wait_for()
            texts = await notes.all_text_contents()
            assert not any("started" in t for t in texts)  # the started line became the status
            # the narration is answered by the agent: an agent bubble follows the run's notes
            await page.wait_for_function(
                "window.voxgate.events.some(e => e.type === 'response.done')", timeout=60000
            )
        finally:
            await browser.close()
