"""What the local model reads of a conversation that may outgrow its context window."""

from __future__ import annotations

from typing import Any

from voxgate.components.llm import ChatMessage, LanguageModel
from voxgate.engines.core.chat import chat_messages, item_text
from voxgate.engines.core.config import SessionConfig

_TEMPLATE_TOKENS = 8  # what a chat template adds around each message, about


def _starts_turn(item: dict[str, Any]) -> bool:
    return item.get("type") == "message" and item.get("role") == "user"


class History:
    """The conversation as chat messages, under the session's ``truncation``.

    Past the limit, whole turns (each from a user message on) are dropped from the start
    down to ``retention_ratio`` of it; the new start is kept, so the prompt's beginning,
    and the model's cache of it, stays the same until the limit is reached again.
    """

    def __init__(self, llm: LanguageModel) -> None:
        self._llm = llm
        self._last_unseen: str | None = None  # the newest item truncation hides from the model

    def messages(
        self,
        config: SessionConfig,
        items: list[dict[str, Any]],
        instructions: str | None,
        user_text: str | None = None,
    ) -> list[ChatMessage]:
        """The conversation as chat messages (truncated), and ``user_text`` as the last."""
        system = instructions or config.instructions
        pending = [{"role": "user", "content": user_text}] if user_text is not None else []
        return chat_messages(system, self._seen(config, items, system, pending), pending)

    def _seen(
        self,
        config: SessionConfig,
        items: list[dict[str, Any]],
        system: str,
        pending: list[ChatMessage],
    ) -> list[dict[str, Any]]:
        truncation = config.truncation
        if truncation.type == "disabled":
            return items
        llm = self._llm
        start = next((i + 1 for i, it in enumerate(items) if it["id"] == self._last_unseen), 0)
        room = llm.context_window - config.max_output_tokens - llm.count_tokens(system)
        limit = min(truncation.limit or config.history_tokens, room - _TEMPLATE_TOKENS)
        sizes = [_TEMPLATE_TOKENS + llm.count_tokens(item_text(it)) for it in items[start:]]
        total = sum(sizes) + sum(_TEMPLATE_TOKENS + llm.count_tokens(m["content"]) for m in pending)
        if total <= limit:
            return items[start:]
        target, first = truncation.retention_ratio * limit, start
        for index in range(first + 1, len(items)):
            total -= sizes[index - 1 - first]  # items[index - 1] is dropped
            if _starts_turn(items[index]):
                start = index
                if total <= target:
                    break
        else:
            if pending:  # the new user message starts the last turn: drop all before it
                start = len(items)
        self._last_unseen = items[start - 1]["id"] if start else None
        return items[start:]
