"""The openai-agents SDK's ``RealtimeRunner``, unchanged, runs a voice agent on ``/v1/realtime``.

It asks for what a hosted session offers (``semantic_vad``, the voice ``ash``, its own tools) and
runs the tools itself: the offline engine calls the SDK's tool, speaks its result, and the SDK's
history holds the conversation.
"""

from __future__ import annotations

import asyncio

import pytest

agents = pytest.importorskip("agents")
realtime = pytest.importorskip("agents.realtime")

pytestmark = pytest.mark.e2e


async def test_realtime_runner_runs_a_tool_and_speaks_its_result(server_url):
    asked: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        asked.append(city)
        return f"The weather in {city} is sunny, 21 degrees."

    agent = realtime.RealtimeAgent(
        name="Assistant",
        instructions="You are a helpful voice assistant. Keep replies short.",
        tools=[get_weather],
    )
    runner = realtime.RealtimeRunner(agent)
    session = await runner.run(
        model_config={"url": f"{server_url}/v1/realtime?model=voxgate", "api_key": "sk-local"}
    )
    seen: list[str] = []
    errors: list[object] = []
    audio_bytes = 0
    history: list[object] = []
    async with session:
        await session.send_message("What's the weather like in Paris today?")
        async with asyncio.timeout(120):
            async for ev in session:
                seen.append(ev.type)
                if ev.type == "error":
                    errors.append(ev.error)
                elif ev.type == "history_updated":
                    history = ev.history
                elif ev.type == "audio":
                    audio_bytes += len(ev.audio.data)
                elif ev.type == "agent_end" and "tool_end" in seen:
                    break

    assert not errors  # the session's configuration was taken whole
    assert asked == ["Paris"]
    assert seen.index("tool_start") < seen.index("tool_end") < len(seen) - 1
    assert audio_bytes > 24000  # the result, spoken: over half a second of PCM16 at 24 kHz
    said = [
        part.transcript or part.text or ""
        for item in history
        if getattr(item, "role", None) == "assistant"
        for part in item.content
    ]
    assert any("sunny" in text.lower() for text in said)
