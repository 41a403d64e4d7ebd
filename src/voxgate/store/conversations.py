"""Conversations and their items: what the recorder writes and the history API reads.

Every write names its conversation with a ``ConversationRef`` (the id, the owner, the agent and
transport it started with): the first write creates the conversation, so a session that never
said anything leaves no row. Items are kept in order (``position``) and found again by their
Realtime ``item_id``, so a later write of the same item (a transcript that completed) replaces
its text where it stands. A write into a conversation another user owns is refused, unless the
writer may write anywhere (``admin``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from voxgate.store.database import Database
from voxgate.store.schema import Conversation, Item, TurnMetric, utcnow

TITLE_CHARS = 80
"""A conversation's title: the start of its first user message."""
MAX_LIMIT = 100


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
            "created_at": _iso(self.created_at),
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
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "ended_at": _iso(self.ended_at) if self.ended_at else None,
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


class BadCursor(ValueError):
    """A cursor this server did not make."""


class Conversations:
    """The conversations repository over one ``Database``."""

    def __init__(self, database: Database) -> None:
        self._db = database

    # -- writing ---------------------------------------------------------------------------

    async def apply(self, writes: Sequence[Write]) -> list[Write]:
        """Apply ``writes`` in order, in one transaction; returns those refused.

        A refused write was for a conversation another user owns. Raises what the database
        raises: nothing is applied then.
        """
        if not writes:
            return []
        async with self._db.sessions.begin() as session:
            refs = {w.ref.id: w.ref for w in writes}
            await self._create(session, list(refs.values()))
            rows = await session.execute(
                select(Conversation.id, Conversation.user_id, Conversation.title).where(
                    Conversation.id.in_(refs)
                )
            )
            owners = {cid: (user_id, title) for cid, user_id, title in rows}
            batch = _Batch(session, {cid: title for cid, (_, title) in owners.items()})
            refused: list[Write] = []
            for write in writes:
                owner = owners[write.ref.id][0]
                if not write.ref.admin and owner != write.ref.user_id:
                    refused.append(write)
                    continue
                await batch.apply(write)
            await batch.touch()
        return refused

    async def _create(self, session: AsyncSession, refs: list[ConversationRef]) -> None:
        """Insert the conversations not there yet (a concurrent insert is no error)."""
        now = utcnow()
        values = [
            {
                "id": ref.id,
                "user_id": ref.user_id,
                "agent": ref.agent,
                "transport": ref.transport,
                "created_at": now,
                "updated_at": now,
            }
            for ref in refs
        ]
        insert = (
            postgresql.insert if self._db.engine.dialect.name == "postgresql" else sqlite.insert
        )
        await session.execute(insert(Conversation).values(values).on_conflict_do_nothing())

    # -- reading ---------------------------------------------------------------------------

    async def find(self, conversation_id: str) -> ConversationInfo | None:
        """A conversation's metadata, or None."""
        async with self._db.sessions() as session:
            row = await session.get(Conversation, conversation_id)
            return _info(row) if row is not None else None

    async def get(
        self, conversation_id: str, *, last: int | None = None
    ) -> StoredConversation | None:
        """A conversation and its items in order (only the ``last`` ones if given), or None."""
        async with self._db.sessions() as session:
            row = await session.get(Conversation, conversation_id)
            if row is None:
                return None
            query = select(Item).where(Item.conversation_id == conversation_id)
            if last is not None:
                query = query.order_by(Item.position.desc(), Item.id.desc()).limit(last)
                items = list(reversed((await session.scalars(query)).all()))
            else:
                query = query.order_by(Item.position, Item.id)
                items = list((await session.scalars(query)).all())
            return StoredConversation(_info(row), [_item(i) for i in items])

    async def page(
        self,
        *,
        user_id: str | None = None,
        everyone: bool = False,
        limit: int = 20,
        cursor: str | None = None,
        offset: int | None = None,
        query: str | None = None,
    ) -> Page:
        """Conversations, the latest first: ``user_id``'s own, or ``everyone``'s.

        Paged by ``cursor`` (from the previous page) or ``offset``; ``query`` keeps those whose
        title or an item's text holds it (case-insensitive). ``BadCursor`` for a foreign cursor.
        """
        limit = max(1, min(limit, MAX_LIMIT))
        stmt = select(Conversation)
        if not everyone:
            stmt = stmt.where(Conversation.user_id == user_id)
        if query:
            pattern = "%" + _escape_like(query) + "%"
            stmt = stmt.where(
                or_(
                    Conversation.title.ilike(pattern, escape="\\"),
                    exists().where(
                        Item.conversation_id == Conversation.id,
                        Item.text.ilike(pattern, escape="\\"),
                    ),
                )
            )
        if cursor is not None:
            updated_at, after_id = _decode_cursor(cursor)
            stmt = stmt.where(
                or_(
                    Conversation.updated_at < updated_at,
                    (Conversation.updated_at == updated_at) & (Conversation.id < after_id),
                )
            )
        stmt = stmt.order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        if offset:
            stmt = stmt.offset(offset)
        async with self._db.sessions() as session:
            rows: list[Conversation] = list((await session.scalars(stmt.limit(limit + 1))).all())
        has_more = len(rows) > limit
        infos = [_info(r) for r in rows[:limit]]
        next_cursor = _encode_cursor(infos[-1]) if has_more and infos else None
        return Page(infos, has_more, next_cursor)

    async def metrics(self, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's turn metrics, in order."""
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(TurnMetric)
                .where(TurnMetric.conversation_id == conversation_id)
                .order_by(TurnMetric.id)
            )
            return [
                {"response_id": r.response_id, "created_at": _iso(r.created_at), **r.data}
                for r in rows
            ]

    async def delete(self, conversation_id: str) -> bool:
        """Delete a conversation with its items and metrics; False if there was none."""
        async with self._db.sessions.begin() as session:
            # SQLite's cascade needs its foreign keys on; delete the children explicitly anyway
            await session.execute(delete(Item).where(Item.conversation_id == conversation_id))
            await session.execute(
                delete(TurnMetric).where(TurnMetric.conversation_id == conversation_id)
            )
            result = await session.execute(
                delete(Conversation).where(Conversation.id == conversation_id)
            )
            return bool(getattr(result, "rowcount", 0))


class _Batch:
    """One transaction's writes: next positions and titles kept per conversation."""

    def __init__(self, session: AsyncSession, titles: dict[str, str | None]) -> None:
        self._session = session
        self._titles = titles
        self._next: dict[str, int] = {}
        self._touched: set[str] = set()
        self._ended: set[str] = set()

    async def apply(self, write: Write) -> None:
        cid = write.ref.id
        self._touched.add(cid)
        if isinstance(write, PutItem):
            await self._put(cid, write.item)
        elif isinstance(write, DeleteItem):
            await self._session.execute(
                delete(Item).where(Item.conversation_id == cid, Item.item_id == write.item_id)
            )
        elif isinstance(write, PutMetrics):
            self._session.add(
                TurnMetric(conversation_id=cid, response_id=write.response_id, data=write.data)
            )
        elif isinstance(write, PutSummary):
            await self._session.execute(
                delete(Item).where(Item.conversation_id == cid, Item.type == "summary")
            )
            await self._put(cid, NewItem("summary", write.text))
        else:
            self._ended.add(cid)

    async def _put(self, cid: str, new: NewItem) -> None:
        if new.item_id is not None:
            found = await self._session.scalar(
                select(Item).where(Item.conversation_id == cid, Item.item_id == new.item_id)
            )
            if found is not None:
                found.type, found.role, found.text = new.type, new.role, new.text
                found.data = new.data
                await self._session.flush()
                self._title(cid, new)
                return
        self._session.add(
            Item(
                conversation_id=cid,
                position=await self._position(cid),
                item_id=new.item_id,
                type=new.type,
                role=new.role,
                text=new.text,
                data=new.data,
            )
        )
        await self._session.flush()
        self._title(cid, new)

    async def _position(self, cid: str) -> int:
        if cid not in self._next:
            last = await self._session.scalar(
                select(func.max(Item.position)).where(Item.conversation_id == cid)
            )
            self._next[cid] = -1 if last is None else last
        self._next[cid] += 1
        return self._next[cid]

    def _title(self, cid: str, new: NewItem) -> None:
        if self._titles.get(cid) or new.role != "user" or new.type != "message":
            return
        title = " ".join(new.text.split())
        if title:
            self._titles[cid] = title[:TITLE_CHARS]
            self._touched.add(cid)

    async def touch(self) -> None:
        """Bump ``updated_at`` (and set titles, ``ended_at``) of the conversations written."""
        now = utcnow()
        for cid in self._touched:
            values: dict[str, Any] = {"updated_at": now, "title": self._titles.get(cid)}
            if cid in self._ended:
                values["ended_at"] = now
            await self._session.execute(
                update(Conversation).where(Conversation.id == cid).values(**values)
            )


# -- shapes --------------------------------------------------------------------------------


def _aware(value: datetime) -> datetime:
    """SQLite gives timestamps back without their zone: every one is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _iso(value: datetime) -> str:
    return _aware(value).isoformat()


def _info(row: Conversation) -> ConversationInfo:
    return ConversationInfo(
        id=row.id,
        user_id=row.user_id,
        title=row.title,
        agent=row.agent,
        transport=row.transport,
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
        ended_at=_aware(row.ended_at) if row.ended_at else None,
    )


def _item(row: Item) -> StoredItem:
    return StoredItem(
        position=row.position,
        type=row.type,
        role=row.role,
        text=row.text,
        item_id=row.item_id,
        data=row.data,
        created_at=_aware(row.created_at),
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _encode_cursor(info: ConversationInfo) -> str:
    raw = json.dumps([info.updated_at.isoformat(), info.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, after_id = json.loads(raw)
        return _aware(datetime.fromisoformat(stamp)), str(after_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise BadCursor("the cursor is not one this server gave: use next_cursor as is") from exc
