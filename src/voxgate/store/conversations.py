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
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from voxgate.store.batch import Batch
from voxgate.store.database import Database
from voxgate.store.records import (
    ConversationInfo,
    ConversationRef,
    Page,
    StoredConversation,
    StoredItem,
    Write,
    aware,
    iso,
)
from voxgate.store.schema import Conversation, Item, TurnMetric, utcnow

MAX_LIMIT = 100


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
            allowed: list[Write] = []
            refused: list[Write] = []
            for write in writes:
                mine = write.ref.admin or owners[write.ref.id][0] == write.ref.user_id
                (allowed if mine else refused).append(write)
            batch = Batch(session, {cid: title for cid, (_, title) in owners.items()})
            await batch.load(allowed)
            for write in allowed:
                batch.add(write)
            await batch.execute()
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

    async def count_items(self, conversation_id: str) -> int:
        """How many items a conversation holds (0: none, or no such conversation)."""
        async with self._db.sessions() as session:
            query = select(func.count()).where(Item.conversation_id == conversation_id)
            return int(await session.scalar(query) or 0)

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
        only: str | None = None,
    ) -> Page:
        """Conversations, the latest first: ``user_id``'s own, or ``everyone``'s.

        ``only``: that conversation alone, if it is among them. Paged by ``cursor`` (from the
        previous page) or ``offset``; ``query`` keeps those whose title or an item's text holds
        it (case-insensitive). ``BadCursor`` for a foreign cursor.
        """
        limit = max(1, min(limit, MAX_LIMIT))
        stmt = select(Conversation)
        if not everyone:
            stmt = stmt.where(Conversation.user_id == user_id)
        if only is not None:
            stmt = stmt.where(Conversation.id == only)
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
                {"response_id": r.response_id, "created_at": iso(r.created_at), **r.data}
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


# -- shapes --------------------------------------------------------------------------------


def _info(row: Conversation) -> ConversationInfo:
    return ConversationInfo(
        id=row.id,
        user_id=row.user_id,
        title=row.title,
        agent=row.agent,
        transport=row.transport,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
        ended_at=aware(row.ended_at) if row.ended_at else None,
    )


def _item(row: Item) -> StoredItem:
    return StoredItem(
        position=row.position,
        type=row.type,
        role=row.role,
        text=row.text,
        item_id=row.item_id,
        data=row.data,
        created_at=aware(row.created_at),
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
        return aware(datetime.fromisoformat(stamp)), str(after_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise BadCursor("the cursor is not one this server gave: use next_cursor as is") from exc
