"""Any OpenAI-compatible chat endpoint (vLLM, llama-server, Ollama, OpenAI, ...) via the SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

from openai import AsyncOpenAI

from voxgate.components.llm import ChatMessage, Usage


class OpenAIChatLLM:
    """Streams chat completions from ``base_url`` with ``model``."""

    def __init__(self, *, base_url: str | None, api_key: str, model: str) -> None:
        self._client = AsyncOpenAI(base_url=base_url, api_key=api_key)
        self._model = model

    async def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        usage: Usage | None = None,
    ) -> AsyncIterator[str]:
        """Reply text as the endpoint streams it."""
        stream = await self._client.chat.completions.create(
            model=self._model,
            messages=cast(Any, messages),
            max_tokens=max_tokens,
            temperature=temperature,
            stream=True,
            stream_options={"include_usage": True},
        )
        try:
            async for chunk in stream:
                if chunk.usage is not None and usage is not None:
                    usage.input_tokens = chunk.usage.prompt_tokens
                    usage.output_tokens = chunk.usage.completion_tokens
                if chunk.choices and (text := chunk.choices[0].delta.content):
                    yield text
        finally:
            await stream.close()
