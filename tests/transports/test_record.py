"""One request's turn in a session (scripted engine, the real agent runtime): the reply waits for
the agent to finish its tools, the request's configuration is put back, conversations are kept."""

from __future__ import annotations

import asyncio
import json

import pytest

from voxgate.agents import Agent, AgentRuntime, tool
from voxgate.agents.testing import ScriptedEngine, call, last_output, say
from voxgate.protocol import Event
from voxgate.session import EventWriter, Session, SessionRegistry
from voxgate.transports.record import Conversations, RecordError


@tool
async def get_weather(city: str) -> str:
    """Get the current weather for a city.

    Args:
        city: The city.
    """
    await asyncio.sleep(0.05)  # the reply must wait for it
    return f"Sunny and 21 degrees in {city}."


AGENT = Agent("assistant", "Be brief.", tools=[get_weather])


def _registry(engine: ScriptedEngine) -> SessionRegistry:
    return SessionRegistry(lambda _config: engine)


def _open(registry: SessionRegistry, session_id: str = "conv") -> Session:
    return registry.open(session_id, agent=lambda session: AgentRuntime(session, AGENT))


def _conversations(registry: SessionRegistry, keep_s: float = 60.0) -> Conversations:
    return Conversations(registry, asyncio.create_task, keep_s=keep_s)


async def test_the_reply_holds_every_response_until_the_agent_is_done_with_its_tools():
    engine = ScriptedEngine(
        [call("get_weather", city="Paris"), say(lambda items: "Here: " + last_output(items))]
    )
    registry = _registry(engine)
    session = _open(registry)
    async with _conversations(registry).turn(session) as recorder:
        await recorder.configure(audio_input=False, modalities=["text"])
        await recorder.say("What's the weather in Paris?")
        reply = await recorder.reply()
    assert reply.text == "Here: Sunny and 21 degrees in Paris."
    assert reply.status == "completed" and not reply.audio
    [tool_call] = reply.tool_calls
    assert tool_call["name"] == "get_weather"
    assert json.loads(tool_call["arguments"]) == {"city": "Paris"}
    assert tool_call["output"] == "Sunny and 21 degrees in Paris."
    assert session.agent is not None and session.agent.idle
    await registry.close()


async def test_a_conversation_is_kept_for_the_next_request_then_released():
    engine = ScriptedEngine([say("One."), say("Two.")])
    registry = _registry(engine)
    conversations = _conversations(registry)
    session = _open(registry)
    for text in ("One.", "Two."):
        async with conversations.turn(session) as recorder:
            await recorder.say("Count.")
            assert (await recorder.reply()).text == text
        await asyncio.sleep(0)
        assert registry.get("conv") is session and not session.ended.is_set()
    said = [i["content"][0]["text"] for i in engine.items if i.get("role") == "user"]
    assert said == ["Count.", "Count."]  # one conversation

    released = _conversations(registry, keep_s=0)
    async with released.turn(session):
        pass
    await asyncio.wait_for(session.ended.wait(), 5)
    assert registry.get("conv") is None and len(released) == 0


async def test_what_a_request_changes_of_the_session_is_put_back():
    engine = ScriptedEngine([say("Hi.")])
    registry = _registry(engine)
    session = _open(registry)
    async with _conversations(registry).turn(session) as recorder:
        await recorder.configure(audio_input=False, modalities=["audio"])
        assert session.state is not None and session.state["output_modalities"] == ["audio"]
        await recorder.say("Hello.")
        await recorder.reply()
    assert session.state["output_modalities"] == ["text"]
    await registry.close()


async def test_a_refused_event_fails_the_request_with_the_engine_s_message():
    registry = _registry(ScriptedEngine())
    session = _open(registry)
    with pytest.raises(RecordError) as refused:
        async with _conversations(registry).turn(session) as recorder:
            await recorder.transcribe(b"\0\0" * 2400)  # the scripted engine has no audio
    assert refused.value.status == 502 and "does not take" in str(refused.value)
    await registry.close()


async def test_a_session_whose_live_client_detects_turns_takes_no_clip():
    engine = ScriptedEngine()
    registry = _registry(engine)
    session = _open(registry)
    live = EventWriter(_ignore, max_pending=64)
    session.join(live)
    vad = {"type": "server_vad", "silence_duration_ms": 300}
    await session.send(
        {"type": "session.update", "session": {"audio": {"input": {"turn_detection": vad}}}}
    )
    with pytest.raises(RecordError) as refused:
        async with _conversations(registry).turn(session) as recorder:
            while (session.state or {}).get("audio", {}).get("input", {}).get(
                "turn_detection"
            ) is None:
                await asyncio.sleep(0.01)
            await recorder.configure(audio_input=True, modalities=None)
    assert refused.value.status == 409 and "live on another connection" in str(refused.value)
    await registry.close()


async def _ignore(ev: Event) -> None:
    return None
