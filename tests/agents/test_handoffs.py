"""The agent in charge and the session's tools: the agent's beside a client's."""

from voxgate.agents import Agent, tool
from voxgate.agents.handoffs import AgentSwitch


@tool
def lookup(q: str) -> str:
    """Look up."""
    return q


CLIENT_TOOL = {"type": "function", "name": "open_map", "description": "Map.", "parameters": {}}


def names(ev):
    return [t["name"] for t in ev["session"]["tools"]]


def test_a_handoff_configures_the_new_agent_and_keeps_the_clients_tools():
    faq = Agent("faq_agent", "FAQ.", voice="alloy")
    triage = Agent("triage_agent", "Triage.", tools=[lookup], handoffs=[faq])
    switch = AgentSwitch(triage)
    assert names(switch.opening()) == ["lookup", "transfer_to_faq_agent"]
    restore = switch.session_updated([lookup.definition(), CLIENT_TOOL])  # the handoff dropped
    assert names(restore) == ["lookup", "transfer_to_faq_agent", "open_map"]
    assert set(restore["session"]) == {"type", "tools"}
    update = switch.hand_off(faq)
    assert switch.agent is faq
    assert update["session"]["instructions"] == "FAQ." and names(update) == ["open_map"]
    assert update["session"]["audio"] == {"output": {"voice": "alloy"}}


def test_dropped_tools_are_put_back_once_per_change():
    agent = Agent("a", "x", tools=[lookup])
    switch = AgentSwitch(agent)
    assert switch.session_updated([]) is None  # an engine that does not report tools
    assert switch.session_updated([CLIENT_TOOL]) is not None
    assert switch.session_updated([CLIENT_TOOL]) is None  # the engine drops them again: no loop
    assert switch.session_updated([lookup.definition(), CLIENT_TOOL]) is None
    assert switch.session_updated([CLIENT_TOOL]) is not None  # a new change


def test_the_agents_vocabulary_prompts_the_engines_transcription_once():
    seats = Agent("seat_agent", "Seats.")
    triage = Agent("triage_agent", "Triage.", handoffs=[seats], vocabulary="wifi, carry-on")
    switch = AgentSwitch(triage)
    transcribing = {"audio": {"input": {"transcription": {"model": "whisper-tiny.en"}}}}
    update = switch.transcription(transcribing)
    assert update == {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "audio": {
                "input": {"transcription": {"model": "whisper-tiny.en", "prompt": "wifi, carry-on"}}
            },
        },
    }
    assert switch.transcription(transcribing) is None  # asked once: no loop
    assert switch.transcription(update["session"]) is None
    # a handoff keeps the graph's words
    handed = switch.hand_off(seats)
    assert handed["session"]["audio"]["input"]["transcription"]["prompt"] == "wifi, carry-on"
    # an engine that does not transcribe is not made to, nor is an agent without words
    off = AgentSwitch(triage)
    assert off.transcription({"audio": {"input": {"transcription": None}}}) is None
    assert "audio" not in off.hand_off(seats)["session"]
    assert AgentSwitch(seats).transcription(transcribing) is None
