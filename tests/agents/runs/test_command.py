import asyncio
import os
import sys
from pathlib import Path

from voxgate.agents.runs import CommandRunner, RunManager

WORKER = str(Path(__file__).with_name("worker.py"))


def runner(*args, env=None, name="worker", **kw):
    return CommandRunner(name, [sys.executable, WORKER, *args], env=env, **kw)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_output_lines_become_events_and_the_task_goes_in_the_argument():
    manager = RunManager([runner("{task}", default_task="tidy up")])
    run = manager.start("worker", "")
    assert await asyncio.wait_for(run.wait(), 10) == "completed"
    types = [ev["type"] for ev in run.events]
    assert types == ["textmessage", "toolcallrequest", *["textmessage"] * 4, "done"]
    assert run.events[0]["data"] == {"source": "worker", "content": "working on: tidy up"}
    assert run.events[1]["data"]["calls"][0]["name"] == "grep"  # a JSON line passes through
    assert run.events[-1]["data"]["final"] == "finished: tidy up is done"
    assert run.to_dict()["status"] == "completed"


async def test_task_on_stdin_when_no_placeholder():
    run = RunManager([runner()]).start("worker", "read me")
    await asyncio.wait_for(run.wait(), 10)
    assert run.messages()[0] == "working on: read me"


async def test_failure_reports_exit_status_and_stderr():
    run = RunManager([runner("x", env={"WORKER_FAIL": "1"})]).start("worker", "x")
    assert await asyncio.wait_for(run.wait(), 10) == "failed"
    assert "exited with status 3" in run.error and "disk full" in run.error
    assert run.events[-1]["data"]["status"] == "failed"


async def test_pause_stops_the_process_resume_continues_cancel_kills():
    slow = runner("{task}", env={"WORKER_STEPS": "200", "WORKER_DELAY": "0.02"})
    run = RunManager([slow]).start("worker", "long job")
    follow = run.follow()
    while (await anext(follow))["type"] != "textmessage":
        pass
    await run.pause()
    assert run.status == "paused"
    held = len(run.events)
    await asyncio.sleep(0.3)
    assert len(run.events) <= held + 1  # at most a line already read before the stop
    await run.resume()
    assert run.status == "running"
    grown = len(run.events)
    while len(run.events) <= grown:
        await asyncio.sleep(0.02)
    await run.cancel()
    assert run.status == "cancelled"
    assert run.events[-1] == {
        "type": "done",
        "data": {"run_id": run.id, "status": "cancelled", "error": None, "final": run.last_message},
    }
    statuses = [ev["data"]["status"] for ev in run.events if ev["type"] == "status"]
    assert statuses == ["paused", "running"]


async def test_cancel_while_paused_terminates_the_process():
    slow = runner("{task}", env={"WORKER_STEPS": "500", "WORKER_DELAY": "0.02"})
    run = RunManager([slow]).start("worker", "x")
    while not run.messages():
        await asyncio.sleep(0.01)
    pids = [p for p in _children()]
    await run.pause()
    await run.cancel()
    assert run.status == "cancelled"
    for pid in pids:
        for _ in range(100):
            if not alive(pid) or _zombie(pid):
                break
            await asyncio.sleep(0.02)
        assert not alive(pid) or _zombie(pid)


def _children():
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().split()
            except OSError:
                continue
            if int(stat[3]) == me and WORKER in (entry / "cmdline").read_text():
                yield int(entry.name)


def _zombie(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True
