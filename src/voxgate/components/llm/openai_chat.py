"""Any OpenAI-compatible chat endpoint (vLLM, llama-server, Ollama, OpenAI, ...) via the SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

from openai import AsyncOpenAI

from voxgate.components.llm import ChatMessage, Tool, ToolCall, ToolChoice, Usage


def chat_tools(tools: list[Tool]) -> list[dict[str, Any]]:
    """Realtime ``session.tools`` in the chat completions shape."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool["name"],
                "description": tool.get("description", ""),
                "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
            },
        }
        for tool in tools
    ]


def chat_tool_choice(choice: ToolChoice) -> Any:
    """Realtime ``tool_choice`` in the chat completions shape."""
    if isinstance(choice, dict):
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


class OpenAIChatLLM:
    """Streams chat completions from ``base_url`` with ``model``; tools are native."""

    def __init__(self, *, base_url: str | None, api_key: str, model: str) -> None:
        self._client = AsyncOpenAI(base_url=base_url, api_key=api_key)
        self._model = model

    context_window = 128_000
    """A hosted model's usual window; the engine keeps far less history by default."""

    def count_tokens(self, text: str) -> int:
        """An estimate: about four characters a token in English."""
        return len(text) // 4 + 1

    async def prepare(self, instructions: str, tools: list[Tool]) -> None:
        """Nothing to do: the endpoint keeps its own caches."""

    async def prefill(self, messages: list[ChatMessage]) -> None:
        """Nothing to do: the endpoint caches prompts itself."""

    async def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        usage: Usage | None = None,
        tools: list[Tool] | None = None,
        tool_choice: ToolChoice = "auto",
    ) -> AsyncIterator[str | ToolCall]:
        """Reply text as the endpoint streams it; tool calls once their arguments are whole."""
        extra: dict[str, Any] = {}
        if tools:
            extra = {"tools": chat_tools(tools), "tool_choice": chat_tool_choice(tool_choice)}
        stream = await self._client.chat.completions.create(
            model=self._model,
            messages=cast(Any, messages),
            max_tokens=max_tokens,
            temperature=temperature,
            stream=True,
            stream_options={"include_usage": True},
            **extra,
        )
        calls: dict[int, dict[str, str]] = {}
        try:
            async for chunk in stream:
                if chunk.usage is not None and usage is not None:
                    usage.input_tokens = chunk.usage.prompt_tokens
                    usage.output_tokens = chunk.usage.completion_tokens
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta
                if text := delta.content:
                    yield text
                for part in delta.tool_calls or []:
                    call = calls.setdefault(part.index, {"name": "", "arguments": ""})
                    if part.function is not None:
                        call["name"] += part.function.name or ""
                        call["arguments"] += part.function.arguments or ""
        finally:
            await stream.close()
        for _, call in sorted(calls.items()):
            yield ToolCall(name=call["name"], arguments=call["arguments"] or "{}")
