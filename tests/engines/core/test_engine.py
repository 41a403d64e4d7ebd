"""The core engine's responses, driven by a scripted language model."""

from __future__ import annotations

import asyncio

import pytest

from tests.images import create_image, data_url, png
from voxgate.agents.testing import FunctionCall, Reply, ScriptedEngine
from voxgate.engines.core.engine import IMAGE_REPLY
from voxgate.images import image_info
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


async def next_events(stream, count: int) -> list[Event]:
    return [await asyncio.wait_for(anext(stream), 5) for _ in range(count)]


async def test_a_refused_session_update_is_one_error_and_changes_nothing():
    engine = ScriptedEngine([])
    stream = engine.events()
    [created] = await next_events(stream, 1)
    await engine.send(
        {
            "type": "session.update",
            "event_id": "event_mine",
            "session": {
                "type": "realtime",
                "instructions": "changed",
                "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": -5}}},
            },
        }
    )
    [error] = await next_events(stream, 1)
    assert error["type"] == "error"
    assert error["error"]["param"] == "session.audio.input.turn_detection.threshold"
    assert error["error"]["event_id"] == "event_mine"
    assert "0.0 to 1.0" in error["error"]["message"]
    assert engine.quiet  # no session.updated follows
    assert engine.session == created["session"]
    await engine.close()


@pytest.mark.parametrize(
    ("response", "param"),
    [
        ({"max_output_tokens": -1}, "response.max_output_tokens"),
        ({"max_output_tokens": 1e9}, "response.max_output_tokens"),
        ({"output_modalities": ["video"]}, "response.output_modalities"),
        ({"temperature": 9}, "response.temperature"),
        ({"audio": {"output": {"format": {"type": "audio/pcmu"}}}}, "response.audio.output.format"),
    ],
)
async def test_response_create_overrides_are_checked_like_the_session(response, param):
    engine = ScriptedEngine([Reply(text="Fine.")])
    stream = engine.events()
    await next_events(stream, 1)  # session.created
    await engine.send({"type": "response.create", "response": response})
    [error] = await next_events(stream, 1)
    assert error["type"] == "error" and error["error"]["param"] == param
    assert engine.quiet  # no response started
    await engine.close()


async def test_response_create_max_output_tokens_bounds_that_reply():
    engine = ScriptedEngine([Reply(text="Fine."), Reply(text="Again.")])
    stream = engine.events()
    await engine.send({"type": "response.create", "response": {"max_output_tokens": 5}})
    await until(engine, stream, "response.done")
    assert engine._response is not None and engine._response.max_tokens == 5
    await engine.send({"type": "response.create", "response": {"max_output_tokens": "inf"}})
    await until(engine, stream, "response.done")
    assert engine._response.max_tokens == 4096  # the scripted model's context is large
    await engine.close()


async def test_an_out_of_band_response_leaves_the_conversation_as_it_was():
    engine = ScriptedEngine([Reply(text="Hello."), Reply(text="They said hello.")])
    stream = engine.events()
    await engine.send({"type": "response.create"})
    await until(engine, stream, "response.done")
    before = [item["id"] for item in engine.items]
    await engine.send(
        {
            "type": "response.create",
            "response": {
                "conversation": "none",
                "output_modalities": ["text"],
                "metadata": {"purpose": "summary"},
            },
        }
    )
    events = await until(engine, stream, "response.done")
    assert not [ev for ev in events if ev["type"].startswith("conversation.item.")]
    text = next(ev for ev in events if ev["type"] == "response.output_text.done")["text"]
    assert text == "They said hello."
    assert events[0]["response"]["metadata"] == {"purpose": "summary"}
    assert events[-1]["response"]["metadata"] == {"purpose": "summary"}
    assert [item["id"] for item in engine.items] == before
    await engine.close()


async def test_a_response_with_its_own_input_reads_only_that():
    engine = ScriptedEngine([Reply(text="Hi."), Reply(text="Summary.")])
    seen = []
    stream_of = engine._model.stream

    def spy(messages, **kw):
        seen.append(messages)
        return stream_of(messages, **kw)

    engine._model.stream = spy
    stream = engine.events()
    await engine.send({"type": "response.create"})
    await until(engine, stream, "response.done")
    first = engine.items[0]["id"]
    ask = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Sum up"}]}
    await engine.send(
        {
            "type": "response.create",
            "response": {
                "conversation": "none",
                "input": [{"type": "item_reference", "id": first}, ask],
            },
        }
    )
    events = await until(engine, stream, "response.done")
    assert events[-1]["response"]["status"] == "completed"
    assert seen[-1][1:] == [
        {"role": "assistant", "content": "Hi."},
        {"role": "user", "content": "Sum up"},
    ]
    await engine.send(
        {
            "type": "response.create",
            "response": {"input": [{"type": "item_reference", "id": "item_nope"}]},
        }
    )
    refused = await until(engine, stream, "error")
    assert refused[-1]["error"]["code"] == "item_not_found"
    assert refused[-1]["error"]["param"] == "response.input[0].id"
    await engine.close()


async def test_a_scripted_model_reads_the_image_and_a_blind_one_says_it_cannot():
    url = data_url(png())

    def describe(items):
        [part] = [p for p in items[-1]["content"] if p["type"] == "input_image"]
        return Reply(text=f"I see {image_info(part['image_url'])}.")

    engine = ScriptedEngine([describe])
    stream = engine.events()
    await engine.send(create_image(url, "What is this?"))
    await engine.send({"type": "response.create"})
    done = (await until(engine, stream, "response.done"))[-1]["response"]
    assert done["output"][0]["content"][0]["text"] == f"I see {image_info(url)}."
    await engine.close()

    class Blind(ScriptedEngine):
        sees_images = False

    engine = Blind([Reply(text="Hello again.")])
    stream = engine.events()
    await engine.send(create_image(url))
    await engine.send({"type": "response.create"})
    done = (await until(engine, stream, "response.done"))[-1]["response"]
    assert done["output"][0]["content"][0]["text"] == IMAGE_REPLY
    assert len(engine.script) == 1  # the model was not asked
    await engine.send({"type": "response.create"})  # the image has had its answer
    done = (await until(engine, stream, "response.done"))[-1]["response"]
    assert done["output"][0]["content"][0]["text"] == "Hello again."
    await engine.close()
