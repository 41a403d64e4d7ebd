"""An AutoGen AgentChat team as a runner, driven by AutoGen's replay model client."""

import asyncio

import pytest

pytest.importorskip("autogen_agentchat")

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import TextMentionTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core import FunctionCall
from autogen_core.models import CreateResult, RequestUsage
from autogen_ext.models.replay import ReplayChatCompletionClient

from voxgate.agents import Agent, RunManager, delegate
from voxgate.agents.runs.autogen import AutoGenRunner
from voxgate.agents.testing import ScriptedSession, call, say


def search_flights(destination: str) -> str:
    """Search flights."""
    return f"3 flights to {destination}, cheapest 89 euros"


def team():
    client = ReplayChatCompletionClient(
        [
            CreateResult(
                finish_reason="function_calls",
                content=[
                    FunctionCall(
                        id="c1", name="search_flights", arguments='{"destination": "Rome"}'
                    )
                ],
                usage=RequestUsage(prompt_tokens=0, completion_tokens=0),
                cached=False,
            ),
            "The cheapest flight to Rome is 89 euros. TERMINATE",
        ],
        model_info={
            "vision": False,
            "function_calling": True,
            "json_output": False,
            "family": "unknown",
            "structured_output": False,
        },
    )
    planner = AssistantAgent(
        "planner", model_client=client, tools=[search_flights], reflect_on_tool_use=True
    )
    return RoundRobinGroupChat([planner], termination_condition=TextMentionTermination("TERMINATE"))


async def test_team_messages_and_tool_events_stream_as_run_events():
    manager = RunManager([AutoGenRunner("travel", team, default_task="Find a flight to Rome")])
    run = manager.start("travel")
    assert await asyncio.wait_for(run.wait(), 30) == "completed", run.error
    types = [ev["type"] for ev in run.events]
    assert types == ["toolcallrequest", "toolcallexecution", "textmessage", "done"]
    request, execution = run.events[0]["data"], run.events[1]["data"]
    assert request["calls"] == [
        {"id": "c1", "name": "search_flights", "arguments": '{"destination": "Rome"}'}
    ]
    assert execution["results"][0]["content"] == "3 flights to Rome, cheapest 89 euros"
    assert not execution["results"][0]["is_error"]
    assert run.events[2]["data"]["source"] == "planner"
    assert run.last_message.startswith("The cheapest flight to Rome is 89 euros")


async def test_team_narrated_into_a_voice_session():
    runner = AutoGenRunner("travel", team, description="plans trips")
    agent = Agent("assistant", "Be brief.", tools=[delegate(runner)])
    script = [call("delegate_to_travel", task="Rome"), say("Planning."), say("89 euros to Rome.")]
    async with ScriptedSession(agent, script) as s:
        await s.run("Plan a trip to Rome")
        await asyncio.wait_for(s.runtime.run_manager.latest().wait(), 30)
        await s.settle()
        shown = [ev["event"]["type"] for ev in s.events if ev["type"] == "voxgate.run.event"]
        assert shown == ["toolcallrequest", "toolcallexecution", "textmessage", "done"]
        notes = [
            ev["item"]["content"][0]["text"]
            for ev in s.events
            if ev["type"] == "conversation.item.added" and ev["item"].get("role") == "system"
        ]
        assert len(notes) == 1 and "89 euros" in notes[0]  # tool events shown, not spoken
