"""The default airline agents, exactly as docs/DEMO_TOOLS contract them, via the scripted engine."""

import json

from voxgate.agents import demo
from voxgate.agents.testing import ScriptedSession, call, last_output, say
from voxgate.components.llm.routing import split_examples


def tools_of(agent):
    return {t["name"]: t for t in agent.session_config()["tools"]}


def test_the_graph_matches_the_contract():
    triage = demo.build()
    agents = {a.name: a for a in triage.graph()}
    assert set(agents) == {"triage_agent", "faq_agent", "seat_booking_agent"}
    assert triage.instructions.startswith("You are a helpful triaging agent for an airline.")
    # the starting agent's words prompt the speech recognizer for the whole graph
    assert "wifi" in triage.vocabulary and "carry-on" in triage.vocabulary
    assert [a.vocabulary for a in agents.values() if a is not triage] == [None, None]
    t = tools_of(triage)
    assert list(t) == ["get_weather", "transfer_to_faq_agent", "transfer_to_seat_booking_agent"]
    assert t["get_weather"]["description"].startswith("Get the current weather for a city.")
    assert t["get_weather"]["parameters"]["properties"] == {"city": {"type": "string"}}
    assert t["transfer_to_faq_agent"]["description"].startswith(
        "Hand off to faq_agent: answers questions about the airline (baggage, carry-on, wifi, "
        "aircraft, food, pets, check-in)."
    )
    assert t["transfer_to_seat_booking_agent"]["description"].startswith(
        "Hand off to seat_booking_agent: changes the seat on a flight booking."
    )
    f = tools_of(agents["faq_agent"])
    assert list(f) == ["faq_lookup_tool", "transfer_to_triage_agent"]
    assert f["faq_lookup_tool"]["description"].startswith("Look up an answer in the airline FAQ.")
    assert f["transfer_to_triage_agent"]["description"].startswith(
        "Hand off to triage_agent for anything that is not an airline FAQ."
    )
    s = tools_of(agents["seat_booking_agent"])
    assert list(s) == ["update_seat", "transfer_to_triage_agent"]
    assert s["update_seat"]["parameters"]["required"] == ["confirmation_number", "new_seat"]
    assert s["transfer_to_triage_agent"]["description"].startswith(
        "Hand off to triage_agent for anything that is not a seat change."
    )
    # example requests route across the graph: the FAQ agent's way back leads to seats too
    _, back = split_examples(f["transfer_to_triage_agent"]["description"])
    assert "What's the weather in Madrid?" in back and "I'd like a different seat." in back
    assert not set(back) & set(split_examples(f["faq_lookup_tool"]["description"])[1])
    for agent in agents.values():
        for tool in tools_of(agent).values():
            if tool["name"].startswith("transfer_to_"):
                assert tool["parameters"] == {"type": "object", "properties": {}}


def test_bundled_faq_covers_its_topics():
    for question, expected in [
        ("How much luggage can I check?", "23 kg"),
        ("What carry-on bag can I bring?", "7 kg"),
        ("Is there wifi on the plane?", "wifi"),
        ("How many seats does the aircraft have?", "126 seats"),
        ("Do you serve food?", "meal"),
        ("Can I bring my dog?", "cats and dogs"),
        ("Can I bring my dog on the plane?", "cats and dogs"),
        ("When does check-in open?", "24 hours"),
        ("How many can I check on my flight?", "23 kg"),  # what's checked is bags
        ("Can I check in online?", "24 hours"),
    ]:
        assert expected in (demo.faq_answer(question) or ""), question
    assert demo.faq_answer("Who won the football?") is None


async def test_weather_is_local_deterministic_and_says_so():
    script = [call("get_weather", city="Paris"), say(last_output)]
    async with ScriptedSession(demo.build(), script) as s:
        result = await s.run("What's the weather in Paris?")
        result.expect.next_event().is_function_call(name="get_weather", arguments={"city": "Paris"})
        out = result.expect.next_event().is_function_call_output(status="ok").event.output
        assert out.startswith("Paris: ") and out.endswith("(demo weather).")
        assert out == demo.get_weather.fn("paris")  # deterministic


async def test_faq_question_hands_off_then_looks_up_then_hands_back():
    script = [
        call("transfer_to_faq_agent"),
        call("faq_lookup_tool", question="How many bags can I check?"),
        say(last_output),
        call("transfer_to_triage_agent"),
        say("Back at triage."),
    ]
    async with ScriptedSession(demo.build(), script) as s:
        result = await s.run("How many bags can I check?")
        result.expect.next_event().is_function_call(name="transfer_to_faq_agent")
        result.expect.next_event().is_handoff(from_="triage_agent", to="faq_agent")
        result.expect.next_event().is_function_call_output(contains="faq_agent")
        result.expect.next_event().is_function_call(name="faq_lookup_tool")
        result.expect.next_event().is_function_call_output(contains="23 kg")
        result.expect.next_event().is_message().contains("two bags")
        result.expect.no_more_events()
        again = await s.run("And what's the weather in Oslo?")
        again.expect.next_event().is_function_call(name="transfer_to_triage_agent")
        again.expect.next_event().is_handoff(to="triage_agent")
        assert s.agent.name == "triage_agent"


async def test_seat_change_validates_then_confirms():
    script = [
        call("transfer_to_seat_booking_agent"),
        say("What is your confirmation number and new seat?"),
        call("update_seat", confirmation_number="AB", new_seat="14C"),
        say("That confirmation number looks wrong."),
        call("update_seat", confirmation_number="abc-123", new_seat="14c"),
        say(last_output),
    ]
    async with ScriptedSession(demo.build(), script) as s:
        (await s.run("I want another seat")).expect.contains_handoff("seat_booking_agent")
        bad = await s.run("AB, seat 14C")
        out = bad.expect.skip_next().next_event().is_function_call_output(status="error").event
        assert "six letters or digits" in json.loads(out.output)["error"]
        assert json.loads(out.output)["spoken"].endswith("What is yours?")  # for the user
        good = await s.run("Sorry: ABC123, seat 14C")
        good.expect.skip_next().next_event().is_function_call_output(
            contains="booking ABC123 is now in seat 14C", status="ok"
        )
