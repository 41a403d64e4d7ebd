"""Language models: chat messages in, reply text streamed out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

ChatMessage = dict[str, Any]
"""An OpenAI chat message: ``{"role": ..., "content": ...}``."""


@dataclass
class Usage:
    """Tokens one reply used; filled in by the model as it streams."""

    input_tokens: int = 0
    output_tokens: int = 0


class LanguageModel(Protocol):
    """Shared by all sessions; closing the stream early stops generation."""

    def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        usage: Usage | None = None,
    ) -> AsyncIterator[str]:
        """Reply text, piece by piece as it is generated."""
        ...
