"""The conversation as the upstream built it, kept so a new connection can be given it again.

Items are followed from the server events (added, done, deleted, transcribed) and replayed
with ``conversation.item.create``: audio can't be resent, so a spoken turn comes back as its
transcript (``input_text`` for the user, ``output_text`` for the assistant), under its own id;
a user's images go again as they came (when the upstream's echo carried their ``image_url``).
"""

from __future__ import annotations

from typing import Any

from voxgate.engines.core import conversation as core
from voxgate.protocol import Event


def _text_of(part: dict[str, Any]) -> str:
    return str(part.get("text") or part.get("transcript") or "")


class Conversation(core.Conversation):
    """Ordered items of one upstream conversation, and the events that rebuild them."""

    def replay(self) -> list[Event]:
        """``conversation.item.create`` events that rebuild the conversation upstream."""
        events: list[Event] = []
        previous = "root"
        for item in self.items:
            created = replayable(item)
            if created is None:
                continue
            events.append(
                {"type": "conversation.item.create", "previous_item_id": previous, "item": created}
            )
            previous = created["id"]
        return events


def replayable(item: dict[str, Any]) -> dict[str, Any] | None:
    """The ``item`` for ``conversation.item.create``, or None if there's nothing to resend."""
    type_ = item.get("type")
    if type_ == "message":
        role = item.get("role")
        text = " ".join(_text_of(p) for p in item.get("content") or []).strip()
        images = [
            {k: v for k, v in p.items() if k in ("type", "image_url", "detail")}
            for p in item.get("content") or []
            if role == "user" and p.get("type") == "input_image" and p.get("image_url")
        ]
        if not (text or images) or role not in ("user", "assistant", "system"):
            return None
        kind = "output_text" if role == "assistant" else "input_text"
        return {
            "id": item["id"],
            "type": "message",
            "role": role,
            "content": ([{"type": kind, "text": text}] if text else []) + images,
        }
    if type_ == "function_call" and item.get("status", "completed") == "completed":
        return {
            "id": item["id"],
            "type": "function_call",
            "call_id": item.get("call_id"),
            "name": item.get("name"),
            "arguments": item.get("arguments") or "",
        }
    if type_ == "function_call_output":
        return {
            "id": item["id"],
            "type": "function_call_output",
            "call_id": item.get("call_id"),
            "output": item.get("output") or "",
        }
    return None
