"""The conversation as a chat model reads it: OpenAI chat messages from Realtime items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from voxgate.components.llm import ChatMessage
from voxgate.images import has_image


def item_text(item: dict[str, Any]) -> str:
    """What a conversation item says: its text or transcript, a call, or a call's output.

    Images are not words: an ``input_image`` part adds nothing (its base64 never reaches a
    prompt).
    """
    if item.get("type") == "function_call":
        return f"{item.get('name', '')}({item.get('arguments') or ''})"
    if item.get("type") == "function_call_output":
        return str(item.get("output") or "")
    return " ".join(
        str(part.get("text") or part.get("transcript") or "")
        for part in item.get("content", [])
        if part.get("type") != "input_image"
    ).strip()


def unseen_image(items: list[dict[str, Any]]) -> bool:
    """Whether the user sent an image since the conversation's last answer (a reply or a call)."""
    for item in reversed(items):
        if item.get("type") != "message" or item.get("role") == "assistant":
            return False
        if has_image(item):
            return True
    return False


def chat_messages(
    system: str, items: list[dict[str, Any]], pending: Sequence[ChatMessage] = ()
) -> list[ChatMessage]:
    """``system``, ``items`` as chat messages (a turn's calls in one), then ``pending``."""
    messages: list[ChatMessage] = [{"role": "system", "content": system}]
    for item in items:
        if item.get("type") == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item.get("arguments") or "{}"},
            }
            last = messages[-1]
            if last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif item.get("type") == "function_call_output":
            messages.append(
                {"role": "tool", "tool_call_id": item["call_id"], "content": item["output"]}
            )
        elif item.get("type") == "message" and (text := item_text(item)):
            messages.append({"role": item["role"], "content": text})
    return messages + list(pending)
