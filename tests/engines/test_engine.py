"""The local engine's function calling, end to end: real models, a real /ws socket.

The server runs no agents here: the client declares the tools and answers the calls itself,
so what is tested is the engine's side of the protocol alone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import assert_valid_ga, serve_app, session_url, silence
from voxgate.bench.tools import demo_agents
from voxgate.client import VoiceClient
from voxgate.engines.local import LocalModels
from voxgate.server.app import create_app
from voxgate.settings import Settings

pytestmark = pytest.mark.e2e


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def server_url(settings: Settings, models: LocalModels) -> AsyncIterator[str]:
    """A server without agents on 127.0.0.1, sharing the test session's models."""
    bare = settings.model_copy(update={"agents": "none"})
    async with serve_app(create_app(bare, models=models)) as port:
        yield f"ws://127.0.0.1:{port}"


TRIAGE = demo_agents()["triage_agent"]
CALL_SEQUENCE = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.output_item.done",
    "conversation.item.done",
    "response.done",
]


async def declare(client: VoiceClient, **session: Any) -> dict[str, Any]:
    mark = len(client.received.events)
    await client.send_json(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "instructions": TRIAGE.instructions,
                "tools": TRIAGE.tools,
                **session,
            },
        }
    )
    _, updated = await client.wait_for("session.updated", after=mark)
    return updated


async def ask(client: VoiceClient, text: str) -> tuple[int, int, dict[str, Any]]:
    """Type ``text``; the index of its ``response.created``, of its ``response.done``, and it."""
    mark = len(client.received.events)
    await client.send_json({"type": "text", "text": text})
    start, created = await client.wait_for("response.created", after=mark)
    rid = created["response"]["id"]
    end, done = await client.wait_for(
        lambda ev: ev["type"] == "response.done" and ev["response"]["id"] == rid,
        after=start,
        timeout=60,
    )
    return start, end, done


def events_of(client: VoiceClient, start: int, end: int) -> list[dict[str, Any]]:
    return [
        ev
        for _, ev in client.received.events[start : end + 1]
        if not ev["type"].startswith("voxgate.")
    ]


def audio_between(client: VoiceClient, start: int, end: int) -> int:
    t0 = client.received.events[start][0]
    t1 = client.received.events[end][0]
    return sum(n for t, n in client.received.audio if t0 <= t <= t1)


async def test_a_weather_question_calls_the_tool_then_its_output_is_spoken(server_url):
    async with VoiceClient(session_url(server_url)) as client:
        updated = await declare(client)
        assert [t["name"] for t in updated["session"]["tools"]] == [
            "get_weather",
            "transfer_to_faq_agent",
            "transfer_to_seat_booking_agent",
        ]
        assert updated["session"]["tool_choice"] == "auto"

        start, end, done = await ask(client, "What's the weather like in Paris today?")
        events = events_of(client, start, end)
        assert [ev["type"] for ev in events] == CALL_SEQUENCE
        added, args_done, item_done = events[1], events[4], events[5]
        call = added["item"]
        assert call["type"] == "function_call" and call["name"] == "get_weather"
        assert call["arguments"] == "" and call["status"] == "in_progress"
        assert args_done["name"] == "get_weather"
        assert args_done["call_id"] == call["call_id"] and args_done["item_id"] == call["id"]
        assert args_done["output_index"] == 0 and args_done["response_id"] == done["response"]["id"]
        assert json.loads(args_done["arguments"]) == {"city": "Paris"}
        assert events[3]["delta"] == args_done["arguments"]
        assert item_done["item"]["status"] == "completed"
        assert done["response"]["status"] == "completed"
        assert done["response"]["output"] == [item_done["item"]]
        assert done["response"]["usage"] is not None
        assert audio_between(client, start, end) == 0  # a call is not spoken

        mark = len(client.received.events)
        await client.send_json(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "function_call_output",
                    "call_id": call["call_id"],
                    "output": json.dumps({"city": "Paris", "forecast": "sunny, 21 degrees"}),
                },
            }
        )
        _, output_added = await client.wait_for("conversation.item.added", after=mark)
        assert output_added["item"]["type"] == "function_call_output"
        assert output_added["previous_item_id"] == call["id"]
        await client.send_json({"type": "response.create"})
        start, _ = await client.wait_for("response.created", after=mark)
        end, spoken = await client.wait_for("response.done", after=start, timeout=60)
        assert spoken["response"]["status"] == "completed"
        message = spoken["response"]["output"][0]
        assert message["type"] == "message" and message["content"][0]["transcript"].strip()
        assert audio_between(client, start, end) > 24000  # half a second of speech, at least
        assert_valid_ga(client.received.events)


@pytest.mark.parametrize(
    ("choice", "text", "called"),
    [
        ("none", "What's the weather like in Paris today?", None),
        ("required", "Hello, how are you?", "any"),
        ({"type": "function", "name": "get_weather"}, "Hello, how are you?", "get_weather"),
    ],
    ids=["none", "required", "forced"],
)
async def test_tool_choice(server_url, choice, text, called):
    async with VoiceClient(session_url(server_url)) as client:
        updated = await declare(client, tool_choice=choice)
        assert updated["session"]["tool_choice"] == choice
        start, end, done = await ask(client, text)
        output = done["response"]["output"]
        assert done["response"]["status"] == "completed"
        if called is None:
            assert [item["type"] for item in output] == ["message"]
            assert audio_between(client, start, end) > 0
        else:
            assert [item["type"] for item in output] == ["function_call"]
            assert called == "any" or output[0]["name"] == called
            json.loads(output[0]["arguments"])
        assert_valid_ga(client.received.events)


BAD_TOOLS = [
    ([{"type": "function", "name": "no spaces allowed"}], "invalid_tool", "session.tools[0].name"),
    ([{"type": "function", "description": "nameless"}], "invalid_tool", "session.tools[0].name"),
    (
        [{"type": "function", "name": "f", "parameters": {"type": "string"}}],
        "invalid_tool",
        "session.tools[0].parameters",
    ),
    (
        [{"type": "function", "name": "f"}, {"type": "function", "name": "f"}],
        "invalid_tool",
        "session.tools[1].name",
    ),
]


@pytest.mark.parametrize(("tools", "code", "param"), BAD_TOOLS)
async def test_a_bad_tool_definition_is_refused_and_the_session_answers(
    server_url, tools, code, param
):
    async with VoiceClient(session_url(server_url)) as client:
        await client.send_json(
            {"type": "session.update", "session": {"type": "realtime", "tools": tools}}
        )
        _, error = await client.wait_for("error", timeout=10)
        assert error["error"]["code"] == code and error["error"]["param"] == param
        assert error["error"]["message"]
        _, _, done = await ask(client, "Say yes.")
        assert done["response"]["status"] == "completed"
        assert [item["type"] for item in done["response"]["output"]] == ["message"]
        assert_valid_ga(client.received.events)


async def test_tool_choice_must_name_a_declared_tool(server_url):
    async with VoiceClient(session_url(server_url)) as client:
        await declare(client)
        await client.send_json(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "tool_choice": {"type": "function", "name": "book_hotel"},
                },
            }
        )
        _, error = await client.wait_for("error", timeout=10)
        assert error["error"]["code"] == "invalid_tool_choice"


async def test_an_output_for_an_unknown_call_is_refused(server_url):
    async with VoiceClient(session_url(server_url)) as client:
        await client.send_json(
            {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": "call_nope", "output": "{}"},
            }
        )
        _, error = await client.wait_for("error", timeout=10)
        assert error["error"]["code"] == "invalid_value"
        assert error["error"]["param"] == "item.call_id"


async def test_cancel_during_a_function_call_response_leaves_no_half_item(server_url):
    async with VoiceClient(session_url(server_url)) as client:
        await declare(client)
        mark = len(client.received.events)
        await client.send_json({"type": "text", "text": "What's the weather like in Paris today?"})
        start, _ = await client.wait_for("response.created", after=mark)
        await client.send_json({"type": "response.cancel"})
        end, done = await client.wait_for("response.done", after=start, timeout=60)
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"]["reason"] == "client_cancelled"
        events = events_of(client, start, end)
        added = {ev["item"]["id"] for ev in events if ev["type"] == "response.output_item.added"}
        finished = {ev["item"]["id"] for ev in events if ev["type"] == "response.output_item.done"}
        assert added == finished  # every item the response began, it completed
        assert all(item["status"] == "completed" for item in done["response"]["output"])
        # the conversation holds whole items only: the next turn is answered normally
        _, _, after = await ask(client, "Hello, how are you?")
        assert after["response"]["status"] == "completed"
        assert_valid_ga(client.received.events)


async def test_a_spoken_request_calls_the_tool(server_url, speech):
    async with VoiceClient(session_url(server_url)) as client:
        await declare(client)
        await client.stream(
            silence(400) + speech("What's the weather like in London today?") + silence(1200)
        )
        _, done = await client.wait_for("response.done", timeout=60)
        assert done["response"]["status"] == "completed"
        [call] = done["response"]["output"]
        assert call["type"] == "function_call" and call["name"] == "get_weather"
        assert "london" in json.loads(call["arguments"])["city"].lower()
        assert_valid_ga(client.received.events)


async def test_a_session_update_prepares_the_model_for_its_instructions_and_tools(
    server_url, models, monkeypatch
):
    prepared: list[tuple[str, list[dict[str, Any]]]] = []
    prepare = models.llm.prepare

    async def spy(instructions: str, tools: list[dict[str, Any]]) -> None:
        prepared.append((instructions, tools))
        await prepare(instructions, tools)

    monkeypatch.setattr(models.llm, "prepare", spy)
    async with VoiceClient(session_url(server_url)) as client:
        await declare(client)
        _, _, done = await ask(client, "Hello there.")
    assert done["response"]["status"] == "completed"
    assert prepared and prepared[-1][0] == TRIAGE.instructions
    assert [tool["name"] for tool in prepared[-1][1]] == [tool["name"] for tool in TRIAGE.tools]


async def test_asked_to_repeat_the_agent_says_its_last_reply_again_slower_if_asked(server_url):
    async with VoiceClient(session_url(server_url)) as client:
        await declare(client)
        start, end, first = await ask(client, "Hello, who are you?")
        said = first["response"]["output"][0]["content"][0]["transcript"]
        assert said.strip()
        heard = audio_between(client, start, end)
        start, end, again = await ask(client, "Sorry, could you repeat that more slowly?")
        assert again["response"]["output"][0]["content"][0]["transcript"] == said
        # 0.8 of the speed: ~1.2 times as long (Piper varies each phrase's length a little)
        assert audio_between(client, start, end) > 1.07 * heard
        await declare(client, audio={"output": {"speed": 1.5}})
        start, end, fast = await ask(client, "Say that again, please.")
        assert fast["response"]["output"][0]["content"][0]["transcript"] == said
        assert audio_between(client, start, end) < 0.88 * heard
