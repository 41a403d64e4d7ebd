"""The conversation: ordered items, as clients were told of them.

Items follow the server events that pass (item added, done, deleted, input transcription
completed), so the conversation is never ahead of, or behind, what a client saw. An engine
that owns its conversation checks client item events here first: the spec's refusals, with
the codes and messages clients rely on. Images are kept whole up to ``KEPT_IMAGE_CHARS`` of
``image_url`` in all; past it the oldest keep their part without its data, so a client sending
picture after picture never grows a session without bound.
"""

from __future__ import annotations

import copy
from typing import Any

from voxgate.images import has_image
from voxgate.protocol import Event, ProtocolError, new_id

Item = dict[str, Any]

ITEM_TYPES = ("message", "function_call", "function_call_output")
KEPT_IMAGE_CHARS = 32 * 1024 * 1024
"""The images' data a conversation keeps (the newest first): eight 4 MiB photos, as base64."""


class Conversation:
    """Ordered items of one conversation."""

    def __init__(self) -> None:
        self.items: list[Item] = []

    # -- following the server events -------------------------------------------------------

    def observe(self, ev: Event) -> None:
        """Follow one server event.

        An added item goes after its ``previous_item_id`` (first for ``"root"``), at the end
        when that is unset or unknown; a done item replaces the added one.
        """
        type_ = ev["type"]
        if type_ == "conversation.item.added":
            self._add(ev["item"], ev.get("previous_item_id"))
        elif type_ == "conversation.item.done":
            index = self.index(ev["item"].get("id"))
            if index is None:
                self._add(ev["item"], ev.get("previous_item_id"))
            else:
                self.items[index] = copy.deepcopy(ev["item"])
                self._bound_images()
        elif type_ == "conversation.item.deleted":
            self.remove(ev["item_id"])
        elif type_ == "conversation.item.input_audio_transcription.completed":
            index = self.index(ev["item_id"])
            if index is not None:
                content = self.items[index].get("content") or []
                position = ev.get("content_index", 0)
                if position < len(content):
                    content[position]["transcript"] = ev["transcript"]

    def remove(self, item_id: str) -> None:
        """Forget one item."""
        self.items = [it for it in self.items if it.get("id") != item_id]

    # -- lookups ---------------------------------------------------------------------------

    def index(self, item_id: str | None) -> int | None:
        """Where the item is, or None."""
        return next((i for i, it in enumerate(self.items) if it.get("id") == item_id), None)

    def previous_id(self, item_id: str) -> str | None:
        """The id of the item before this one (None: it is first, or unknown)."""
        index = self.index(item_id)
        return self.items[index - 1]["id"] if index else None

    @property
    def last_id(self) -> str | None:
        """The newest item's id."""
        return self.items[-1]["id"] if self.items else None

    def get(self, item_id: str, *, param: str = "item_id") -> Item:
        """The item, or the spec's ``item_not_found`` refusal naming ``param``."""
        index = self.index(item_id)
        if index is None:
            raise ProtocolError(f"no item with id {item_id!r}", code="item_not_found", param=param)
        return self.items[index]

    # -- client item events ----------------------------------------------------------------

    def check_create(self, ev: Event) -> Item:
        """The item a ``conversation.item.create`` adds, with its defaults; else a refusal."""
        item: Item = copy.deepcopy(ev["item"])
        if item.get("type") not in ITEM_TYPES:
            raise ProtocolError(
                f"item type {item.get('type')!r} is not supported; send a 'message', "
                "'function_call' or 'function_call_output'",
                code="unsupported_item_type",
                param="item.type",
            )
        if item["type"] == "function_call_output":
            self._check_call_output(item)
        elif item["type"] == "function_call":
            item.setdefault("call_id", new_id("call"))
            item.setdefault("arguments", "{}")
            if not item.get("name"):
                raise ProtocolError(
                    "a function_call item needs the function's 'name'",
                    code="invalid_value",
                    param="item.name",
                )
        item.setdefault("id", new_id("item"))
        item.update(object="realtime.item", status="completed")
        if self.index(item["id"]) is not None:
            raise ProtocolError(
                f"item {item['id']!r} already exists", code="item_exists", param="item.id"
            )
        previous = ev.get("previous_item_id")
        if previous is not None and previous != "root":
            self.get(previous, param="previous_item_id")
        return item

    def check_truncate(self, ev: Event) -> Item:
        """The item a ``conversation.item.truncate`` cuts: only assistant audio can be."""
        item = self.get(ev["item_id"])
        if item.get("role") != "assistant":
            raise ProtocolError(
                "only assistant audio can be truncated", code="invalid_item", param="item_id"
            )
        return item

    def _check_call_output(self, item: Item) -> None:
        call_id = item.get("call_id")
        if not any(
            i.get("type") == "function_call" and i.get("call_id") == call_id for i in self.items
        ):
            raise ProtocolError(
                f"no function_call with call_id {call_id!r} in the conversation",
                code="invalid_value",
                param="item.call_id",
            )
        if not isinstance(item.get("output"), str):
            raise ProtocolError(
                "a function_call_output item needs its 'output' as a string",
                code="invalid_value",
                param="item.output",
            )

    def _add(self, item: Item, previous: str | None) -> None:
        if self.index(item.get("id")) is not None:
            return
        if previous == "root":
            position = 0
        else:
            after = self.index(previous) if previous else None
            position = len(self.items) if after is None else after + 1
        self.items.insert(position, copy.deepcopy(item))
        if has_image(item):
            self._bound_images()

    def _bound_images(self) -> None:
        """Keep the newest images' data up to ``KEPT_IMAGE_CHARS``; older parts go without it."""
        kept = 0
        for item in reversed(self.items):
            if not has_image(item):
                continue
            for part in reversed(item["content"]):
                if part.get("type") == "input_image" and isinstance(part.get("image_url"), str):
                    kept += len(part["image_url"])
                    if kept > KEPT_IMAGE_CHARS:
                        del part["image_url"]
