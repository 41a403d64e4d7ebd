"""The GA response sequence and the item refusals, the same for every engine.

Each check speaks only the protocol: client events in, server events out, every one of them
valid for the ``openai`` SDK's GA models. An engine joins the suite with one ``<name>_case``
fixture and its name in ``ENGINES``; its model (real, scripted or a fake upstream's) is asked
``ASK_WEATHER`` with ``get_weather`` forced (a call), ``ASK_STORY`` (a reply long enough to
cancel) and ``ASK_HELLO`` (a short reply).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio

from tests.engines.openai.engine_upstream import EngineUpstream
from voxgate.agents.testing import Reply, ScriptedEngine, call
from voxgate.engines import Engine
from voxgate.engines.core.config import SessionConfig
from voxgate.engines.local import LocalEngine, LocalModels
from voxgate.engines.openai import OpenAIEngine
from voxgate.protocol import Event, to_wire, validate_server_event
from voxgate.settings import Settings

ENGINES = ["local", "scripted", "openai"]

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city."}},
        "required": ["city"],
    },
}
ASK_WEATHER = "What's the weather like in Paris today?"
ASK_STORY = "Tell me a long story about a lighthouse keeper and the sea."
ASK_HELLO = "Hello, how are you?"


@dataclass
class Case:
    """An engine under test, and what it can do."""

    engine: Engine
    audio: bool
    """Whether it speaks (else its replies are text only)."""
    events: list[Event] = field(default_factory=list)

    async def send(self, ev: Event) -> None:
        await self.engine.send(ev)

    async def wait_for(
        self, match: str | Callable[[Event], bool], *, after: int = 0, timeout: float = 60
    ) -> tuple[int, Event]:
        """The first server event at or after ``after`` of this type (or matching)."""
        test = (lambda ev: ev["type"] == match) if isinstance(match, str) else match
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for index in range(after, len(self.events)):
                if test(self.events[index]):
                    return index, self.events[index]
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {match!r} event in {timeout:g} s")
            await asyncio.sleep(0.01)

    async def error_for(self, ev: Event) -> dict[str, Any]:
        """The ``error`` the engine answers ``ev`` with."""
        mark, event_id = len(self.events), f"evt_{next(_ids)}"
        await self.send({**ev, "event_id": event_id})
        _, error = await self.wait_for(
            lambda e: e["type"] == "error" and e["error"]["event_id"] == event_id, after=mark
        )
        return dict(error["error"])


_ids = itertools.count()


def scripted_reply(items: list[dict[str, Any]]) -> Reply:
    """The scripted model's answer to the last user message."""
    asked = next(
        (
            " ".join(str(part.get("text") or "") for part in item.get("content") or [])
            for item in reversed(items)
            if item.get("role") == "user"
        ),
        "",
    )
    if "weather" in asked:
        return call("get_weather", city="Paris")
    if "story" in asked:
        return Reply(text="Once upon a time, a keeper lived by the sea.", hold=True)
    return Reply(text="Hello there, I am fine, thank you.")


@pytest.fixture
def local_case(models: LocalModels) -> Case:
    config = SessionConfig.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    return Case(LocalEngine(models, config), audio=True)


@pytest.fixture
def scripted_case() -> Case:
    return Case(ScriptedEngine([scripted_reply] * 50), audio=False)


@pytest.fixture
def openai_case() -> Case:
    """Engine ``openai`` whose upstream is the scripted engine, in process."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, engine="openai", openai_api_key="sk-test", agents="none"
    )
    upstream = ScriptedEngine([scripted_reply] * 50)

    async def connect() -> EngineUpstream:
        return EngineUpstream(upstream)

    return Case(OpenAIEngine(settings, connect=connect), audio=False)


@pytest_asyncio.fixture(params=ENGINES)
async def case(request: pytest.FixtureRequest) -> AsyncIterator[Case]:
    """Each engine, its server events collected as they come."""
    case: Case = request.getfixturevalue(f"{request.param}_case")

    async def collect() -> None:
        async for ev in case.engine.events():
            case.events.append(ev)

    collector = asyncio.create_task(collect())
    await case.wait_for("session.created")
    try:
        yield case
    finally:
        await case.engine.close()
        await asyncio.wait_for(collector, 10)
    for ev in case.events:
        if not ev["type"].startswith("voxgate."):
            validate_server_event(to_wire(ev))


async def say(case: Case, text: str) -> dict[str, Any]:
    """A user message, as ``conversation.item.create``; returns the added item."""
    mark = len(case.events)
    await case.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            },
        }
    )
    _, added = await case.wait_for("conversation.item.added", after=mark)
    return dict(added["item"])


async def respond(case: Case, **response: Any) -> list[Event]:
    """``response.create``; the response's events from ``response.created`` on.

    That is up to its ``response.done`` (and a truncation after it), without voxgate's own.
    """
    mark = len(case.events)
    await case.send({"type": "response.create", **({"response": response} if response else {})})
    start, created = await case.wait_for("response.created", after=mark)
    rid = created["response"]["id"]
    end, _ = await case.wait_for(
        lambda ev: ev["type"] == "response.done" and ev["response"]["id"] == rid, after=start
    )
    await asyncio.sleep(0.05)
    return response_events(case, start, end)


def response_events(case: Case, start: int, end: int) -> list[Event]:
    events = [ev for ev in case.events[start : end + 1] if not ev["type"].startswith("voxgate.")]
    after = [ev for ev in case.events[end + 1 :] if ev["type"] == "conversation.item.truncated"]
    return events + after[:1]


def runs(events: list[Event]) -> list[str]:
    """Event types, each run of one type as one."""
    return [type_ for type_, _ in itertools.groupby(ev["type"] for ev in events)]


def check_message_reply(events: list[Event], *, audio: bool) -> dict[str, Any]:
    """One assistant message in order and under one set of ids; returns the done item."""
    created, done = events[0], events[-1]
    rid = created["response"]["id"]
    assert created["response"]["status"] == "in_progress"
    item = events[1]["item"]
    assert events[1]["type"] == "response.output_item.added"
    assert item["type"] == "message" and item["role"] == "assistant"
    assert item["status"] == "in_progress"
    for ev in events[1:-1]:
        assert ev.get("response_id", rid) == rid
        if "output_index" in ev:
            assert ev["output_index"] == 0 and ev.get("item_id", item["id"]) == item["id"]
        if "content_index" in ev:
            assert ev["content_index"] == 0
    text_kind = "output_audio_transcript" if audio else "output_text"
    middle = {f"response.{text_kind}.delta"} | ({"response.output_audio.delta"} if audio else set())
    seq = runs(events)
    head = ["response.created", "response.output_item.added", "conversation.item.added"]
    head.append("response.content_part.added")
    tail = (["response.output_audio.done"] if audio else []) + [
        f"response.{text_kind}.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    assert seq[: len(head)] == head and seq[-len(tail) :] == tail
    assert set(seq[len(head) : -len(tail)]) <= middle and seq[len(head) : -len(tail)]
    deltas = "".join(ev["delta"] for ev in events if ev["type"] == f"response.{text_kind}.delta")
    text_done = next(ev for ev in events if ev["type"] == f"response.{text_kind}.done")
    assert text_done["transcript" if audio else "text"] == deltas and deltas.strip()
    item_done = next(ev for ev in events if ev["type"] == "response.output_item.done")["item"]
    conversation_done = next(ev for ev in events if ev["type"] == "conversation.item.done")
    assert conversation_done["item"] == item_done and item_done["id"] == item["id"]
    assert done["response"]["output"] == [item_done]
    assert done["response"]["usage"] is not None
    part = item_done["content"][0]
    assert part["type"] == ("output_audio" if audio else "output_text")
    assert part["transcript" if audio else "text"] == deltas
    if audio:
        assert sum(len(ev["delta"]) for ev in events if ev["type"] == "response.output_audio.delta")
    return dict(item_done)


async def test_a_text_reply(case):
    user = await say(case, ASK_HELLO)
    events = await respond(case, output_modalities=["text"])
    item = check_message_reply(events, audio=False)
    done = events[-1]["response"]
    assert done["status"] == "completed" and done["status_details"]["type"] == "completed"
    assert done["output_modalities"] == ["text"]
    added = next(ev for ev in events if ev["type"] == "conversation.item.added")
    assert added["previous_item_id"] == user["id"]
    assert item["status"] == "completed"


async def test_an_audio_reply(case):
    if not case.audio:
        pytest.skip("this engine replies in text only")
    await say(case, ASK_HELLO)
    events = await respond(case, output_modalities=["audio"])
    item = check_message_reply(events, audio=True)
    assert events[-1]["response"]["status"] == "completed"
    assert item["status"] == "completed"


async def test_a_function_call_reply(case):
    await case.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "tools": [WEATHER],
                "tool_choice": {"type": "function", "name": "get_weather"},
            },
        }
    )
    await case.wait_for("session.updated")
    user = await say(case, ASK_WEATHER)
    events = await respond(case)
    assert [ev["type"] for ev in events] == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    rid = events[0]["response"]["id"]
    call_item = events[1]["item"]
    assert call_item["type"] == "function_call" and call_item["name"] == "get_weather"
    assert call_item["status"] == "in_progress" and call_item["arguments"] == ""
    assert (
        events[2]["item"]["id"] == call_item["id"] and events[2]["previous_item_id"] == user["id"]
    )
    delta, args = events[3], events[4]
    for ev in (delta, args):
        assert ev["response_id"] == rid and ev["output_index"] == 0
        assert ev["item_id"] == call_item["id"] and ev["call_id"] == call_item["call_id"]
    assert args["name"] == "get_weather" and delta["delta"] == args["arguments"]
    item_done = events[5]["item"]
    assert item_done["status"] == "completed" and item_done["arguments"] == args["arguments"]
    assert events[6]["item"] == item_done
    done = events[7]["response"]
    assert done["status"] == "completed" and done["output"] == [item_done]
    # its output is accepted after it, and answered
    mark = len(case.events)
    await case.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "function_call_output",
                "call_id": call_item["call_id"],
                "output": '{"forecast": "sunny"}',
            },
        }
    )
    _, added = await case.wait_for("conversation.item.added", after=mark)
    assert added["previous_item_id"] == call_item["id"]


async def test_a_cancelled_reply(case):
    await say(case, ASK_STORY)
    mark = len(case.events)
    await case.send({"type": "response.create"})
    start, created = await case.wait_for("response.created", after=mark)
    delta = "response.output_audio.delta" if case.audio else "response.output_text.delta"
    await case.wait_for(delta, after=start)
    await case.send({"type": "response.cancel"})
    rid = created["response"]["id"]
    end, done = await case.wait_for(
        lambda ev: ev["type"] == "response.done" and ev["response"]["id"] == rid, after=start
    )
    await asyncio.sleep(0.05)
    events = response_events(case, start, end)
    response = done["response"]
    assert response["status"] == "cancelled"
    assert response["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    added = [ev["item"]["id"] for ev in events if ev["type"] == "response.output_item.added"]
    finished = [ev["item"]["id"] for ev in events if ev["type"] == "response.output_item.done"]
    assert added == finished == [item["id"] for item in response["output"]]
    [message] = response["output"]
    if case.audio:  # cut to what was heard, after the response ends
        truncated = events[-1]
        assert truncated["type"] == "conversation.item.truncated"
        assert truncated["item_id"] == message["id"] and truncated["content_index"] == 0
        sent = sum(len(ev["delta"]) for ev in events if ev["type"] == "response.output_audio.delta")
        assert 0 <= truncated["audio_end_ms"] <= sent / 48
    # one active response at a time; nothing left to cancel
    error = await case.error_for({"type": "response.cancel"})
    assert error["code"] == "response_cancel_not_active"


async def test_one_active_response_at_a_time(case):
    await say(case, ASK_STORY)
    mark = len(case.events)
    await case.send({"type": "response.create"})
    await case.wait_for("response.created", after=mark)
    error = await case.error_for({"type": "response.create"})
    assert error["code"] == "conversation_already_has_active_response"
    await case.send({"type": "response.cancel"})
    await case.wait_for("response.done", after=mark)


def user_item(text: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
        **fields,
    }


REFUSED_ITEMS = [
    ({"item": {"type": "image"}}, "unsupported_item_type", "item.type"),
    (
        {"item": {"type": "function_call_output", "call_id": "call_nope", "output": "{}"}},
        "invalid_value",
        "item.call_id",
    ),
    (
        {"item": {"type": "function_call_output", "call_id": "call_known", "output": 7}},
        "invalid_value",
        "item.output",
    ),
    ({"item": {"type": "function_call", "arguments": "{}"}}, "invalid_value", "item.name"),
    ({"item": user_item("Again.", id="item_first")}, "item_exists", "item.id"),
    (
        {"item": user_item("After what?"), "previous_item_id": "item_nope"},
        "item_not_found",
        "previous_item_id",
    ),
]


@pytest.mark.parametrize(
    ("create", "code", "param"),
    REFUSED_ITEMS,
    ids=[
        "type",
        "unknown-call",
        "output-not-text",
        "nameless-call",
        "duplicate",
        "unknown-previous",
    ],
)
async def test_item_create_refusals(case, create, code, param):
    await case.send(
        {"type": "conversation.item.create", "item": user_item("First.", id="item_first")}
    )
    await case.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "function_call",
                "call_id": "call_known",
                "name": "get_weather",
                "arguments": "{}",
            },
        }
    )
    await case.wait_for(
        lambda ev: ev["type"] == "conversation.item.done" and ev["item"]["type"] == "function_call"
    )
    error = await case.error_for({"type": "conversation.item.create", **create})
    assert (error["code"], error["param"]) == (code, param)
    assert error["message"]
    # the conversation goes on
    item = await say(case, "Still there?")
    assert item["role"] == "user"


@pytest.mark.parametrize(
    "ev",
    [
        {"type": "conversation.item.delete", "item_id": "item_nope"},
        {"type": "conversation.item.retrieve", "item_id": "item_nope"},
        {
            "type": "conversation.item.truncate",
            "item_id": "item_nope",
            "content_index": 0,
            "audio_end_ms": 0,
        },
    ],
    ids=["delete", "retrieve", "truncate"],
)
async def test_unknown_items_are_refused(case, ev):
    error = await case.error_for(ev)
    assert (error["code"], error["param"]) == ("item_not_found", "item_id")


async def test_only_assistant_audio_is_truncatable(case):
    user = await say(case, ASK_HELLO)
    error = await case.error_for(
        {
            "type": "conversation.item.truncate",
            "item_id": user["id"],
            "content_index": 0,
            "audio_end_ms": 0,
        }
    )
    assert (error["code"], error["param"]) == ("invalid_item", "item_id")


async def test_items_keep_their_order(case):
    first = await say(case, "One.")
    second = await say(case, "Two.")
    mark = len(case.events)
    await case.send(
        {
            "type": "conversation.item.create",
            "previous_item_id": first["id"],
            "item": user_item("One and a half."),
        }
    )
    _, added = await case.wait_for("conversation.item.added", after=mark)
    assert added["previous_item_id"] == first["id"]
    mark = len(case.events)
    await case.send({"type": "conversation.item.retrieve", "item_id": added["item"]["id"]})
    _, retrieved = await case.wait_for("conversation.item.retrieved", after=mark)
    assert retrieved["item"]["content"] == added["item"]["content"]
    mark = len(case.events)
    await case.send({"type": "conversation.item.delete", "item_id": second["id"]})
    _, deleted = await case.wait_for("conversation.item.deleted", after=mark)
    assert deleted["item_id"] == second["id"]
    error = await case.error_for({"type": "conversation.item.retrieve", "item_id": second["id"]})
    assert error["code"] == "item_not_found"
