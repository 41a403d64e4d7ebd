"""What the store holds and is asked to write, as plain values (the repository's vocabulary).

``ConversationRef`` names a conversation and its writer; ``PutItem`` and the other writes are
what the recorder queues; ``ConversationInfo``, ``StoredItem`` and ``Page`` are what reads give.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class ConversationRef:
    """The conversation a write goes to, and who writes it.

    ``user_id`` None: a configured key or an open server. ``admin``: the writer may write into
    a conversation another user owns (else such writes are refused).
    """

    id: str
    user_id: str | None = None
    agent: str | None = None
    transport: str | None = None
    admin: bool = True


@dataclass(frozen=True)
class NewItem:
    """An item to store: a new one, or (same ``item_id``) the completed form of one stored."""

    type: str
    text: str = ""
    role: str | None = None
    item_id: str | None = None
    data: dict[str, Any] | None = None

    def digest(self) -> int:
        """What tells two forms of an item apart: a recorder keeps this, not the item."""
        data = json.dumps(self.data, sort_keys=True, default=str) if self.data else ""
        return hash((self.type, self.text, self.role, data))


@dataclass(frozen=True)
class PutItem:
    """Add an item, or replace the one with its ``item_id``."""

    ref: ConversationRef
    item: NewItem


@dataclass(frozen=True)
class DeleteItem:
    """Remove an item (the conversation deleted it)."""

    ref: ConversationRef
    item_id: str


@dataclass(frozen=True)
class PutMetrics:
    """One turn's ``voxgate.metrics``."""

    ref: ConversationRef
    response_id: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class PutSummary:
    """The conversation's summary, its last item (a previous summary goes)."""

    ref: ConversationRef
    text: str


@dataclass(frozen=True)
class EndConversation:
    """The live session ended."""

    ref: ConversationRef


Write = PutItem | DeleteItem | PutMetrics | PutSummary | EndConversation


@dataclass(frozen=True)
class StoredItem:
    """One item as stored."""

    position: int
    type: str
    role: str | None
    text: str
    item_id: str | None
    data: dict[str, Any] | None
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The item as the history API returns it."""
        return {
            "position": self.position,
            "item_id": self.item_id,
            "type": self.type,
            "role": self.role,
            "text": self.text,
            "data": self.data,
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True)
class ConversationInfo:
    """A conversation's metadata."""

    id: str
    user_id: str | None
    title: str | None
    agent: str | None
    transport: str | None
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        """The metadata as the history API returns it."""
        return {
            "id": self.id,
            "object": "voxgate.conversation",
            "user_id": self.user_id,
            "title": self.title,
            "agent": self.agent,
            "transport": self.transport,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "ended_at": iso(self.ended_at) if self.ended_at else None,
        }


@dataclass(frozen=True)
class StoredConversation:
    """A conversation and its items, in order."""

    info: ConversationInfo
    items: list[StoredItem] = field(default_factory=list)


@dataclass(frozen=True)
class Page:
    """One page of a listing; ``next_cursor`` continues it (None: the last page)."""

    conversations: list[ConversationInfo]
    has_more: bool
    next_cursor: str | None


def aware(value: datetime) -> datetime:
    """SQLite gives timestamps back without their zone: every one is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def iso(value: datetime) -> str:
    """A timestamp as ISO 8601, with its zone."""
    return aware(value).isoformat()
