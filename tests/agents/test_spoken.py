"""End to end: a spoken request makes the demo agent call a tool on the local engine and speak its result."""

import uuid

import pytest

from tests.conftest import silence
from voxgate.client import VoiceClient, spoken_reply_done
from voxgate.protocol import to_wire, validate_server_event

pytestmark = pytest.mark.e2e


async def test_spoken_weather_question_calls_the_tool_and_speaks_the_result(server_url, speech):
    async with VoiceClient(f"{server_url}/ws/{uuid.uuid4().hex}") as client:
        await client.stream(silence(400) + speech("What is the weather in Paris?") + silence(1200))
        _, called = await client.wait_for("response.function_call_arguments.done", timeout=60)
        assert called["name"] == "get_weather"
        assert "paris" in called["arguments"].lower()
        _, completed = await client.wait_for("voxgate.tool.completed", timeout=30)
        assert completed["status"] == "ok" and "Paris" in completed["output"]
        index, added = await client.wait_for(
            lambda ev: (
                ev["type"] == "conversation.item.added"
                and ev["item"].get("type") == "function_call_output"
            ),
            timeout=30,
        )
        assert added["item"]["call_id"] == called["call_id"]
        _, done = await client.wait_for(spoken_reply_done, after=index, timeout=60)
        assert done["response"]["status"] == "completed"
        spoken = done["response"]["output"][-1]["content"][0]["transcript"]
        assert any(word in spoken.lower() for word in ("23", "windy")), spoken  # the tool's data
        after = client.received.events[index][0]
        assert sum(n for t, n in client.received.audio if t > after) > 24000
        for _, ev in client.received.events:
            if not ev["type"].startswith("voxgate."):
                validate_server_event(to_wire(ev))


async def test_spoken_faq_question_hands_off_on_the_same_connection(server_url, speech):
    async with VoiceClient(f"{server_url}/ws/{uuid.uuid4().hex}") as client:
        await client.stream(silence(400) + speech("How many bags can I check?") + silence(1200))
        _, called = await client.wait_for("response.function_call_arguments.done", timeout=60)
        assert called["name"] == "transfer_to_faq_agent"
        index, handoff = await client.wait_for("voxgate.handoff", timeout=30)
        assert (handoff["from"], handoff["to"]) == ("triage_agent", "faq_agent")
        _, updated = await client.wait_for(
            lambda ev: (
                ev["type"] == "session.updated"
                and ev["session"]["instructions"].startswith("You are an FAQ agent")
            ),
            after=index,
            timeout=30,
        )
        assert [t["name"] for t in updated["session"]["tools"]] == [
            "faq_lookup_tool",
            "transfer_to_triage_agent",
        ]
        _, output = await client.wait_for(
            lambda ev: (
                ev["type"] == "conversation.item.added"
                and ev["item"].get("type") == "function_call_output"
            ),
            after=index,
            timeout=30,
        )
        assert output["item"]["call_id"] == called["call_id"]  # the call is answered
        # the FAQ agent takes the user's question and looks it up
        _, lookup = await client.wait_for(
            "response.function_call_arguments.done", after=index, timeout=60
        )
        assert lookup["name"] == "faq_lookup_tool"
        _, done = await client.wait_for(spoken_reply_done, after=index, timeout=60)
        assert done["response"]["status"] == "completed"
        created = [ev for ev in client.received.types() if ev == "session.created"]
        assert len(created) == 1  # one engine connection throughout
