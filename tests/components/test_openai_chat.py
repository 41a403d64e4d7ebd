"""The chat-endpoint LLM against a fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from tests.conftest import free_port
from voxgate.components.llm import ToolCall, Usage
from voxgate.components.llm.openai_chat import OpenAIChatLLM, chat_tool_choice, chat_tools

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def chunk(delta: dict[str, Any], usage: dict[str, int] | None = None) -> str:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}] if delta else [],
        "usage": usage,
    }
    return f"data: {json.dumps(body)}\n\n"


@pytest_asyncio.fixture
async def endpoint() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    requests: list[dict[str, Any]] = []
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def complete(request: Request) -> StreamingResponse:
        body = await request.json()
        requests.append(body)
        if body.get("tools"):
            call = {"index": 0, "id": "call_1", "type": "function"}
            parts = [
                chunk(
                    {"tool_calls": [{**call, "function": {"name": "get_weather", "arguments": ""}}]}
                ),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
            ]
        else:
            parts = [chunk({"content": "Hello"}), chunk({"content": " there."})]
        parts.append(chunk({}, {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}))
        parts.append("data: [DONE]\n\n")
        return StreamingResponse(iter(parts), media_type="text/event-stream")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}/v1", requests
    server.should_exit = True
    await task


def test_realtime_tools_become_chat_tools():
    assert chat_tools([WEATHER]) == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": WEATHER["description"],
                "parameters": WEATHER["parameters"],
            },
        }
    ]
    assert chat_tool_choice("required") == "required"
    assert chat_tool_choice({"type": "function", "name": "get_weather"}) == {
        "type": "function",
        "function": {"name": "get_weather"},
    }


async def test_streams_text_without_tools(endpoint):
    base_url, requests = endpoint
    llm = OpenAIChatLLM(base_url=base_url, api_key="none", model="fake")
    usage = Usage()
    pieces = [
        p
        async for p in llm.stream(
            [{"role": "user", "content": "Hi"}], max_tokens=8, temperature=0.0, usage=usage
        )
    ]
    assert pieces == ["Hello", " there."]
    assert usage.input_tokens == 7 and usage.output_tokens == 3
    assert "tools" not in requests[0]


async def test_native_tool_calls_are_joined_into_one_call(endpoint):
    base_url, requests = endpoint
    llm = OpenAIChatLLM(base_url=base_url, api_key="none", model="fake")
    pieces = [
        p
        async for p in llm.stream(
            [{"role": "user", "content": "Weather in Oslo?"}],
            max_tokens=8,
            temperature=0.0,
            tools=[WEATHER],
            tool_choice="required",
        )
    ]
    assert pieces == [ToolCall("get_weather", '{"city": "Oslo"}')]
    assert requests[0]["tools"] == chat_tools([WEATHER])
    assert requests[0]["tool_choice"] == "required"
