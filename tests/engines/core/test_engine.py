"""The core engine's responses, driven by a scripted language model."""

from __future__ import annotations

import asyncio

from voxgate.agents.testing import FunctionCall, Reply, ScriptedEngine
from voxgate.protocol import Event, to_wire, validate_server_event


async def until(engine: ScriptedEngine, stream, type_: str) -> list[Event]:
    """Server events up to and including the first of ``type_``."""
    seen: list[Event] = []
    while not seen or seen[-1]["type"] != type_:
        seen.append(await asyncio.wait_for(anext(stream), 5))
        validate_server_event(to_wire(seen[-1]))
    return seen


async def test_a_call_keeps_the_call_id_the_model_gave_it():
    engine = ScriptedEngine([Reply(calls=[FunctionCall("lookup", {"q": 1}, call_id="call_mine")])])
    stream = engine.events()
    await engine.send({"type": "response.create"})
    events = await until(engine, stream, "response.done")
    assert events[-1]["response"]["output"][0]["call_id"] == "call_mine"
    assert engine.items[-1]["call_id"] == "call_mine"
    await engine.close()


async def test_an_exhausted_script_fails_the_response_and_says_why():
    engine = ScriptedEngine([])
    stream = engine.events()
    await engine.send({"type": "response.create"})
    events = await until(engine, stream, "error")
    done = next(ev for ev in events if ev["type"] == "response.done")["response"]
    assert done["status"] == "failed"
    assert done["status_details"]["error"]["code"] == "script_exhausted"
    assert events[-1]["error"]["code"] == "script_exhausted"
    assert engine.quiet
    await engine.close()


async def test_a_failing_step_fails_the_response():
    def broken(items):
        raise KeyError("nope")

    engine = ScriptedEngine([broken])
    stream = engine.events()
    await engine.send({"type": "response.create"})
    events = await until(engine, stream, "error")
    assert events[-1]["error"]["code"] == "script_error"
    assert "KeyError" in events[-1]["error"]["message"]
    await engine.close()


async def test_a_response_cancelled_before_it_ran_still_ends():
    engine = ScriptedEngine([Reply(text="Never said.")])
    stream = engine.events()
    await engine.send({"type": "response.create"})
    await engine.send({"type": "response.cancel"})
    events = await until(engine, stream, "response.done")
    assert [ev["type"] for ev in events[1:]] == ["response.created", "response.done"]
    done = events[-1]["response"]
    assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert done["output"] == []
    assert len(engine.script) == 1  # the model was never asked: the step waits
    await engine.close()
