"""The runtime through the scripted engine: tools, errors, timeouts, barge-in, handoffs."""

import asyncio
import json

import pytest

from voxgate.agents import Agent, tool
from voxgate.agents.testing import FunctionCall, Reply, ScriptedSession, call, last_output, say
from voxgate.protocol import parse_client_event, to_wire, validate_server_event


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city.

    Args:
        city: The city.
    """
    return f"Sunny and 21 degrees in {city}."


def assert_valid(events):
    for ev in events:
        if not ev["type"].startswith("voxgate."):
            validate_server_event(to_wire(ev))


def assert_valid_client_events(engine):
    for ev in engine.received:  # what the runtime sent is GA too
        parse_client_event(ev)


def types(events):
    return [ev["type"] for ev in events]


async def test_tool_call_output_then_reply():
    agent = Agent("assistant", "Be brief.", tools=[get_weather])
    script = [call("get_weather", city="Paris"), say(lambda items: "Here: " + last_output(items))]
    async with ScriptedSession(agent, script) as s:
        result = await s.run("What's the weather in Paris?")
        result.expect.next_event().is_function_call(name="get_weather", arguments={"city": "Paris"})
        result.expect.next_event().is_function_call_output(contains="21 degrees", status="ok")
        result.expect.next_event().is_message().contains("sunny and 21 degrees in paris")
        result.expect.no_more_events()
        # the runtime configured the engine first, and spoke GA to it
        first = s.engine.received[0]
        assert first["type"] == "session.update"
        assert [t["name"] for t in first["session"]["tools"]] == ["get_weather"]
        sent = types(s.engine.received)
        out = sent.index("conversation.item.create", 2)
        assert sent[out + 1] == "response.create"
        raw = result.raw
        started = next(ev for ev in raw if ev["type"] == "voxgate.tool.started")
        completed = next(ev for ev in raw if ev["type"] == "voxgate.tool.completed")
        assert started["arguments"] == '{"city": "Paris"}' and started["name"] == "get_weather"
        assert completed["status"] == "ok" and completed["duration_ms"] >= 0
        assert completed["output"] == "Sunny and 21 degrees in Paris."
        assert_valid_client_events(s.engine)
        assert types(raw).index("voxgate.tool.started") > types(raw).index(
            "response.function_call_arguments.done"
        )
        assert_valid(raw)


async def test_calls_in_one_response_get_one_reply_after_all_outputs():
    @tool
    async def slow(n: int) -> int:
        """Slow."""
        await asyncio.sleep(0.05 * n)
        return n

    agent = Agent("a", "x", tools=[slow])
    both = Reply(calls=[FunctionCall("slow", {"n": 2}), FunctionCall("slow", {"n": 1})])
    async with ScriptedSession(agent, [both, say("done")]) as s:
        result = await s.run("go")
        outputs = [e for e in result.events if type(e).__name__ == "FunctionCallOutputEvent"]
        assert sorted(o.output for o in outputs) == ["1", "2"]
        assert types(s.engine.received).count("response.create") == 2  # the turn's + one
        result.expect.contains_message("done")


async def test_a_hostile_tool_never_breaks_the_session():
    @tool
    def raises(x: str) -> str:
        """Raises."""
        raise RuntimeError("database on fire")

    @tool(timeout=0.2)
    async def hangs() -> str:
        """Hangs."""
        await asyncio.Event().wait()
        return "never"

    @tool
    def not_json() -> object:
        """Returns something JSON cannot carry."""
        return {"handle": object()}

    @tool(timeout=0.2)
    def blocks() -> str:
        """A sync tool stuck in a thread."""
        threading_event.wait(5)
        return "late"

    @tool
    async def own_timeout() -> str:
        """A tool whose service timed out."""
        raise TimeoutError("the weather service did not answer")

    @tool
    def exits() -> str:
        """Calls exit in a thread."""
        sys.exit(2)

    @tool
    async def exits_async() -> str:
        """Calls exit on the event loop."""
        sys.exit(3)

    import sys
    import threading

    threading_event = threading.Event()
    agent = Agent(
        "a", "x", tools=[raises, hangs, not_json, blocks, exits, exits_async, own_timeout]
    )
    calls = [
        FunctionCall("raises", {"x": "1"}),
        FunctionCall("hangs"),
        FunctionCall("not_json"),
        FunctionCall("blocks"),
        FunctionCall("raises", "{not json"),
        FunctionCall("raises", {"y": 2}),
        FunctionCall("exits"),
        FunctionCall("exits_async"),
        FunctionCall("own_timeout"),
    ]
    async with ScriptedSession(agent, [Reply(calls=calls), say("Sorry, that failed.")]) as s:
        result = await s.run("break things")
        threading_event.set()
        outputs = {
            o.call_id: o for o in result.events if type(o).__name__ == "FunctionCallOutputEvent"
        }
        assert len(outputs) == len(calls)  # every call answered
        by_call = [outputs[c.call_id] for c in calls]
        assert [o.status for o in by_call] == [
            "error",
            "timeout",
            "error",
            "timeout",
            "error",
            "error",
            "error",
            "error",
            "error",
        ]
        assert "did not answer" in json.loads(by_call[8].output)["error"]
        assert "exit(2)" in json.loads(by_call[6].output)["error"]
        assert "SystemExit: 3" in json.loads(by_call[7].output)["error"]
        assert "database on fire" in json.loads(by_call[0].output)["error"]
        assert "timed out after 0.2 s" in json.loads(by_call[1].output)["error"]
        assert "not JSON-serialisable" in json.loads(by_call[2].output)["error"]
        assert "not valid JSON" in json.loads(by_call[4].output)["error"]
        assert "y: Extra inputs" in json.loads(by_call[5].output)["error"]
        result.expect.contains_message("Sorry")
        # and the session goes on
        s.add_script(say("Still here."))
        again = await s.run("hello?")
        again.expect.next_event().is_message().contains("still here")
        assert not [ev for ev in s.events if ev["type"] == "error"]


async def test_barge_in_cancels_cancellable_tools_and_still_answers_them():
    started = asyncio.Event()
    finished = []

    @tool(cancel_on_barge_in=True)
    async def search(query: str) -> str:
        """Search slowly."""
        started.set()
        await asyncio.sleep(30)
        return "found"

    @tool
    async def book(seat: str) -> str:
        """Book; must not be cut off."""
        await asyncio.sleep(0.1)
        finished.append(seat)
        return f"booked {seat}"

    agent = Agent("a", "x", tools=[search, book])
    both = Reply(
        calls=[FunctionCall("search", {"query": "x"}), FunctionCall("book", {"seat": "3A"})]
    )
    async with ScriptedSession(agent, [both, say("Okay, what then?")]) as s:
        await s.run("search and book", wait=False)
        await asyncio.wait_for(started.wait(), 5)
        result = await s.run("no wait, stop", barge_in=True)
        outputs = [e for e in result.events if type(e).__name__ == "FunctionCallOutputEvent"]
        statuses = {o.name: o.status for o in outputs}
        assert statuses == {"search": "cancelled", "book": "ok"}
        assert finished == ["3A"]
        cancelled = next(o for o in outputs if o.name == "search")
        assert json.loads(cancelled.output)["status"] == "cancelled"
        assert not s.runtime.calls  # nothing pending
        result.expect.contains_message("what then")


async def test_cancelled_response_cancels_its_cancellable_calls():
    @tool(cancel_on_barge_in=True)
    async def lookup() -> str:
        """Slow lookup."""
        await asyncio.sleep(30)
        return "x"

    agent = Agent("a", "x", tools=[lookup])
    held = Reply(text="Let me look that up", calls=[FunctionCall("lookup")], hold=True)
    async with ScriptedSession(agent, [held]) as s:
        await s.run("look it up", wait=False)
        await s.wait_for("voxgate.tool.started")
        await s.session.interrupt()  # the client's "stop"
        result = await s.settle(since=0)
        result.expect.contains_function_call("lookup")
        out = next(e for e in result.events if type(e).__name__ == "FunctionCallOutputEvent")
        assert out.status == "cancelled"
        assert types(s.engine.received).count("response.create") == 1  # not asked to go on


async def test_handoff_switches_instructions_tools_and_voice_and_keeps_history():
    faq = Agent(
        "faq_agent",
        "Answer airline FAQs.",
        tools=[get_weather],
        voice="alloy",
        handoff_description="answers FAQs.",
    )
    triage = Agent("triage_agent", "Triage.", handoffs=[faq])
    script = [
        call("transfer_to_faq_agent"),
        say(lambda items: f"FAQ here; I can see {len(items)} items."),
    ]
    async with ScriptedSession(triage, script) as s:
        result = await s.run("I have a baggage question")
        result.expect.next_event().is_function_call(name="transfer_to_faq_agent", arguments={})
        result.expect.next_event().is_handoff(from_="triage_agent", to="faq_agent")
        result.expect.next_event().is_function_call_output(contains="faq_agent")
        result.expect.next_event().is_message().contains("FAQ here")
        result.expect.no_more_events()
        assert s.agent is faq
        update = [ev for ev in s.engine.received if ev["type"] == "session.update"][-1]
        assert update["session"]["instructions"] == "Answer airline FAQs."
        assert [t["name"] for t in update["session"]["tools"]] == ["get_weather"]
        assert update["session"]["audio"]["output"]["voice"] == "alloy"
        assert s.engine.session["instructions"] == "Answer airline FAQs."
        # history carried over: user message, call, output are all still there
        assert [i["type"] for i in s.engine.items[:3]] == [
            "message",
            "function_call",
            "function_call_output",
        ]
        assert_valid_client_events(s.engine)
        assert_valid(result.raw)
        handoff = next(ev for ev in result.raw if ev["type"] == "voxgate.handoff")
        assert (handoff["from"], handoff["to"]) == ("triage_agent", "faq_agent")
        # the new agent's tools now run; the old agent's handoff tool is not its
        s.add_script(call("get_weather", city="Rome"), say("ok"))
        (await s.run("weather in Rome?")).expect.contains_function_call(
            "get_weather", {"city": "Rome"}
        )


async def test_calls_for_tools_the_agent_does_not_own_are_left_to_the_client():
    agent = Agent("a", "x", tools=[get_weather])
    async with ScriptedSession(agent, [call("client_side_tool", x=1)]) as s:
        result = await s.run("do the client thing")
        result.expect.next_event().is_function_call(name="client_side_tool")
        result.expect.no_more_events()
        assert "voxgate.tool.started" not in types(result.raw)
        assert types(s.engine.received).count("conversation.item.create") == 1  # the user's turn


async def test_exhausted_script_is_reported_not_hung():
    async with ScriptedSession(Agent("a", "x"), []) as s:
        result = await s.run("hi")
        assert any(
            ev["type"] == "error" and ev["error"]["code"] == "script_exhausted" for ev in result.raw
        )


async def test_expectations_fail_with_clear_messages():
    agent = Agent("a", "x", tools=[get_weather])
    async with ScriptedSession(agent, [call("get_weather", city="Paris"), say("Sunny.")]) as s:
        result = await s.run("weather?")
        with pytest.raises(AssertionError, match="expected get_weather"):
            result.expect.next_event().is_function_call(arguments={"city": "Rome"})
        with pytest.raises(AssertionError, match="expected a handoff"):
            result.expect.contains_handoff("faq_agent")
        with pytest.raises(AssertionError, match="unexpected events"):
            result.expect.no_more_events()


async def test_every_participant_sees_calls_outputs_and_tool_events():
    from voxgate.session import EventWriter

    seen = []

    class Second(EventWriter):
        def offer(self, ev):
            seen.append(ev)

    agent = Agent("a", "x", tools=[get_weather])
    async with ScriptedSession(agent, [call("get_weather", city="Oslo"), say("Cold.")]) as s:
        s.session.join(Second(lambda ev: None, max_pending=10))
        await s.run("weather in Oslo")
        kinds = types(seen)
        for expected in [
            "response.function_call_arguments.done",
            "voxgate.tool.started",
            "voxgate.tool.completed",
        ]:
            assert expected in kinds
        assert any(
            ev["type"] == "conversation.item.added" and ev["item"]["type"] == "function_call_output"
            for ev in seen
        )


async def test_a_refused_response_create_does_not_wedge_the_runtime():
    from voxgate.protocol import ProtocolError

    agent = Agent("a", "x", tools=[get_weather])
    async with ScriptedSession(agent, [call("get_weather", city="Rome"), say("Warm.")]) as s:
        refuse = s.engine._on_response_create
        count = 0

        def once(ev):
            nonlocal count
            count += 1
            if count == 2:  # the runtime's, after the tool output
                raise ProtocolError("engine busy", code="rate_limited")
            refuse(ev)

        s.engine._on_response_create = once
        result = await s.run("weather in Rome")  # settles instead of waiting forever
        error = next(ev for ev in result.raw if ev["type"] == "error")
        assert error["error"]["code"] == "rate_limited" and error["error"]["event_id"]
        assert s.runtime.idle
        again = await s.run("and now?")
        again.expect.next_event().is_message().contains("warm")


async def test_barge_in_over_a_reply_in_progress_is_clean():
    agent = Agent("a", "x", tools=[get_weather])
    script = [say("A very long story", hold=True), say("Yes?")]
    async with ScriptedSession(agent, script) as s:
        await s.run("tell me a story", wait=False)
        await s.wait_for("response.created")
        result = await s.run("stop, a question", barge_in=True)
        assert not [ev for ev in s.events if ev["type"] == "error"]
        done = [ev for ev in s.events if ev["type"] == "response.done"]
        assert done[0]["response"]["status"] == "cancelled"
        assert done[0]["response"]["status_details"]["reason"] == "turn_detected"
        result.expect.next_event().is_message().contains("Yes?")
        assert_valid(s.events)


async def test_client_tools_live_beside_the_agents_and_the_client_answers_them():
    faq = Agent("faq_agent", "FAQ.", handoff_description="answers FAQs.")
    agent = Agent("a", "x", tools=[get_weather], handoffs=[faq])
    client_tool = {
        "type": "function",
        "name": "open_map",
        "description": "Open a map in the client's UI.",
        "parameters": {"type": "object", "properties": {"place": {"type": "string"}}},
    }
    script = [
        call("open_map", place="Rome"),
        say("Map open."),
        call("transfer_to_faq_agent"),
        say("FAQ."),
    ]
    async with ScriptedSession(agent, script) as s:
        await s.session.send(
            {"type": "session.update", "session": {"type": "realtime", "tools": [client_tool]}}
        )
        await s.settle()
        names = [t["name"] for t in s.engine.session["tools"]]
        assert names == ["get_weather", "transfer_to_faq_agent", "open_map"]  # put back, kept
        result = await s.run("show Rome on the map", wait=False)
        call_event = await s.wait_for("response.function_call_arguments.done")
        await s.settle()
        assert "voxgate.tool.started" not in types(s.events)  # the client's to answer
        await s.session.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "function_call_output",
                    "call_id": call_event["call_id"],
                    "output": "shown",
                },
            }
        )
        await s.session.send({"type": "response.create"})
        result = await s.settle(since=0)
        result.expect.contains_message("Map open")
        await s.run("a baggage question")
        assert [t["name"] for t in s.engine.session["tools"]] == ["open_map"]  # faq has no tools


async def test_a_tool_gets_its_call_its_agent_and_the_sessions_broadcast():
    from voxgate.agents import ToolContext

    seen = {}

    @tool
    async def progress(context: ToolContext) -> str:
        """Report progress."""
        seen.update(call_id=context.call_id, session=context.session_id, agent=context.agent)
        context.broadcast({"type": "voxgate.progress", "percent": 50})
        return "half way"

    agent = Agent("a", "x", tools=[progress])
    async with ScriptedSession(agent, [call("progress"), say("Half way.")]) as s:
        result = await s.run("how far?")
        called = result.expect.next_event().is_function_call(name="progress")
        assert seen == {"call_id": called.event.call_id, "session": "scripted", "agent": agent}
        assert {"type": "voxgate.progress", "percent": 50} in result.raw
