"""Language models: chat messages in, reply text (or a tool call) streamed out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

ChatMessage = dict[str, Any]
"""An OpenAI chat message: ``{"role": ..., "content": ...}``; assistant messages may carry
``tool_calls`` and ``{"role": "tool", "tool_call_id": ..., "content": ...}`` answers them."""

Tool = dict[str, Any]
"""A function tool in the Realtime GA ``session.tools`` shape:
``{"type": "function", "name": ..., "description": ..., "parameters": <JSON schema>}``."""

ToolChoice = str | dict[str, Any]
"""``"auto"``, ``"none"``, ``"required"`` or ``{"type": "function", "name": ...}``."""


@dataclass
class Usage:
    """Tokens one reply used; filled in by the model as it streams."""

    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class ToolCall:
    """The model's decision to call ``name`` with ``arguments`` (a JSON object, as text)."""

    name: str
    arguments: str
    call_id: str | None = None
    """The call's id, if the model gives it one (else the engine makes one)."""


class LanguageModel(Protocol):
    """Shared by all sessions; closing the stream early stops generation."""

    @property
    def context_window(self) -> int:
        """Tokens a prompt and its reply may take together."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes (an estimate where the tokenizer is not at hand)."""
        ...

    async def prepare(self, instructions: str, tools: list[Tool]) -> None:
        """Get ready for replies under ``instructions`` with ``tools``, so the first is quick."""
        ...

    async def prefill(self, messages: list[ChatMessage]) -> None:
        """Get ready for the turn after ``messages`` (a reply just said), so it starts sooner.

        Called once a reply is done, while the user listens; a model may do nothing.
        """
        ...

    def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        usage: Usage | None = None,
        tools: list[Tool] | None = None,
        tool_choice: ToolChoice = "auto",
    ) -> AsyncIterator[str | ToolCall]:
        """Reply text piece by piece as it is generated, or whole ``ToolCall``s.

        Without ``tools`` (or with ``tool_choice="none"``) only text comes.
        """
        ...
