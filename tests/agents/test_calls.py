"""Tool execution on its own: one output per call, cancellation, outputs held for their response."""

import asyncio
import json

from voxgate.agents import tool
from voxgate.agents.calls import ToolCalls


@tool(cancel_on_barge_in=True)
async def slow() -> str:
    """Slow."""
    await asyncio.sleep(30)
    return "late"


@tool
async def quick() -> str:
    """Quick."""
    return "fast"


def tool_calls():
    shown, finished = [], []
    calls = ToolCalls(shown.append, lambda: finished.append(True), timeout=5)
    return calls, shown, finished


async def test_a_call_runs_once_and_answers_once():
    calls, shown, finished = tool_calls()
    call = calls.open("call_1", "quick", "{}", "resp_1", "a")
    assert calls.open("call_1", "quick", "{}", "resp_1", "a") is None  # seen in response.done
    calls.run(call, quick, None)  # type: ignore[arg-type]
    assert calls.running
    await call.task
    assert (call.output, call.status, finished) == ("fast", "ok", [True])
    calls.finish(call, "again", "error")  # a later output is ignored
    assert call.output == "fast" and len(finished) == 1
    assert [ev["type"] for ev in shown] == ["voxgate.tool.started", "voxgate.tool.completed"]
    assert call.item() == {"type": "function_call_output", "call_id": "call_1", "output": "fast"}


async def test_outputs_wait_for_their_response_to_end():
    calls, _, _ = tool_calls()
    call = calls.open("call_1", "quick", "{}", "resp_1", "a")
    calls.run(call, quick, None)  # type: ignore[arg-type]
    await call.task
    assert calls.answered("resp_1") == []  # its response still runs
    assert calls.answered(None) == [call] and not calls.calls


async def test_barge_in_cancels_only_cancellable_calls_and_they_still_answer():
    calls, shown, _ = tool_calls()
    cut = calls.open("call_1", "slow", "{}", "resp_1", "a")
    kept = calls.open("call_2", "quick", "{}", "resp_1", "a")
    calls.run(cut, slow, None)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    calls.cancel("the user interrupted")
    assert cut.interrupted and cut.status == "cancelled"
    assert json.loads(cut.output)["error"] == "cancelled: the user interrupted"
    assert not kept.finished  # not running a cancellable tool
    await asyncio.gather(cut.task, return_exceptions=True)
    completed = [ev for ev in shown if ev["type"] == "voxgate.tool.completed"]
    assert [ev["call_id"] for ev in completed] == ["call_1"]  # once, though the task ended after


async def test_close_cancels_running_calls_with_an_output():
    calls, _, _ = tool_calls()
    call = calls.open("call_1", "slow", "{}", None, "a")
    calls.run(call, slow, None)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    await calls.close()
    assert call.status == "cancelled" and not call.interrupted
