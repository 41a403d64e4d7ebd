"""Realtime items and voxgate events as stored items, and stored items as Realtime items again.

A message is kept as its text (a spoken one as its transcript: audio is not stored); an image in
it as ``[image]`` in the text and, in ``data["images"]``, its media type, size and ``detail``
(not its bytes: a conversation's rows stay small, and a resumed one has the words only); a
function call as ``name(arguments)`` with its name, arguments and ``call_id`` in ``data``; a call's
output as its text. voxgate's own events become items of their own types: ``handoff`` (from,
to) and ``run`` (a background run's task, messages and end). ``restore_events`` gives back
what an engine can take: messages and calls with their outputs, under their own ids.
"""

from __future__ import annotations

from typing import Any

from voxgate.images import PART, image_info
from voxgate.protocol import Event, new_id
from voxgate.store.records import NewItem, StoredItem

ROLES = ("user", "assistant", "system")
RUN_ENDS = ("completed", "failed", "cancelled")
MAX_ITEM_ID = 200
"""The ``item_id`` column's width: a longer client-chosen id is kept in ``data`` instead."""
IMAGE_TEXT = "[image]"
"""An image, in a message's stored text."""


def message_text(item: dict[str, Any]) -> str:
    """A message's text: its parts' text or transcript (an image as ``[image]``), joined."""
    texts = [
        IMAGE_TEXT
        if part.get("type") == PART
        else str(part.get("text") or part.get("transcript") or "")
        for part in item.get("content") or []
        if isinstance(part, dict)
    ]
    return " ".join(t.strip() for t in texts if t and t.strip())


def image_refs(item: dict[str, Any]) -> list[dict[str, Any]]:
    """What is kept of a message's images: type, size and detail (read without decoding)."""
    refs = []
    for part in item.get("content") or []:
        if isinstance(part, dict) and part.get("type") == PART:
            info = image_info(part.get("image_url"))
            refs.append(
                {
                    "media_type": info.media_type if info else None,
                    "bytes": info.size if info else None,
                    "detail": part.get("detail"),
                }
            )
    return refs


def stored_item(item: dict[str, Any]) -> NewItem | None:
    """The item to store for a Realtime conversation item (None: nothing to keep)."""
    type_ = item.get("type")
    item_id = item.get("id")
    if type_ == "message" and item.get("role") in ROLES:
        images = image_refs(item)
        new = NewItem(
            "message",
            message_text(item),
            role=item["role"],
            data={"images": images} if images else None,
        )
        return _with_id(new, item_id)
    if type_ == "function_call":
        name, arguments = str(item.get("name") or ""), str(item.get("arguments") or "")
        data = {"name": name, "arguments": arguments, "call_id": item.get("call_id")}
        return _with_id(NewItem("function_call", f"{name}({arguments})", data=data), item_id)
    if type_ == "function_call_output":
        data = {"call_id": item.get("call_id")}
        return _with_id(
            NewItem("function_call_output", str(item.get("output") or ""), data=data), item_id
        )
    return None


def _with_id(new: NewItem, item_id: Any) -> NewItem:
    if not isinstance(item_id, str) or not item_id:
        return new
    if len(item_id) > MAX_ITEM_ID:
        return NewItem(new.type, new.text, new.role, None, {**(new.data or {}), "id": item_id})
    return NewItem(new.type, new.text, new.role, item_id, new.data)


def voxgate_item(ev: Event) -> NewItem | None:
    """The item a ``voxgate.handoff`` or ``voxgate.run.*`` event adds (None: not one to keep)."""
    type_ = ev["type"]
    if type_ == "voxgate.handoff":
        source, target = ev.get("from"), ev.get("to")
        data = {"from": source, "to": target, "call_id": ev.get("call_id")}
        return NewItem("handoff", f"{source} → {target}", data=data)
    run = {"run_id": ev.get("run_id"), "agent": ev.get("agent")}
    if type_ == "voxgate.run.started":
        return NewItem("run", str(ev.get("task") or ""), data={**run, "status": "started"})
    if type_ == "voxgate.run.event":
        inner = ev.get("event") or {}
        if inner.get("type") != "textmessage":
            return None
        data = inner.get("data") or {}
        content = str(data.get("content") or "")
        return NewItem("run", content, data={**run, "source": data.get("source")})
    if type_ == "voxgate.run.status" and ev.get("status") in RUN_ENDS:
        error = ev.get("error")
        text = f"{ev['status']}: {error}" if error else str(ev["status"])
        return NewItem("run", text, data={**run, "status": ev["status"]})
    return None


SPEAKERS = {"user": "User", "assistant": "Agent"}
LABELS = {
    "function_call": "Tool call",
    "function_call_output": "Tool result",
    "handoff": "Handoff",
    "run": "Background run",
    "summary": "Summary",
}


def transcript_line(type_: str, role: str | None, text: str) -> str | None:
    """One line of a conversation as text ("User: …", "Agent: …").

    None: not shown (a system message, an empty item).
    """
    if not text:
        return None
    if type_ == "message":
        speaker = SPEAKERS.get(role or "")
        return f"{speaker}: {text}" if speaker else None
    label = LABELS.get(type_)
    return f"{label}: {text}" if label else None


def restore_events(items: list[StoredItem]) -> list[Event]:
    """``conversation.item.create`` events that give an engine the stored conversation.

    Messages with text (user, assistant and system), and function calls with their outputs
    (an output whose call is not restored is left out, as an engine would refuse it).
    """
    events: list[Event] = []
    calls: set[str] = set()
    for stored in items:
        item = _realtime_item(stored, calls)
        if item is not None:
            events.append({"type": "conversation.item.create", "item": item})
    return events


def _realtime_item(stored: StoredItem, calls: set[str]) -> dict[str, Any] | None:
    data = stored.data or {}
    item_id = stored.item_id or new_id("item")
    if stored.type == "message" and stored.role in ROLES and stored.text:
        kind = "output_text" if stored.role == "assistant" else "input_text"
        return {
            "id": item_id,
            "type": "message",
            "role": stored.role,
            "content": [{"type": kind, "text": stored.text}],
        }
    if stored.type == "function_call" and data.get("call_id") and data.get("name"):
        calls.add(data["call_id"])
        return {
            "id": item_id,
            "type": "function_call",
            "call_id": data["call_id"],
            "name": data["name"],
            "arguments": data.get("arguments") or "{}",
        }
    if stored.type == "function_call_output" and data.get("call_id") in calls:
        return {
            "id": item_id,
            "type": "function_call_output",
            "call_id": data["call_id"],
            "output": stored.text,
        }
    return None
