"""One transaction's writes, planned in memory, then sent as a few statements.

The recorder's batch may hold hundreds of writes for dozens of conversations; doing each as
its own lookup and insert costs a round trip and an ORM flush per item, on the event loop the
audio shares. The plan reads what it needs once (the items the batch names by ``item_id``, the
last position of each conversation), applies the writes in order to that picture, and sends
the result in bulk: deletes, then updates by row id, then inserts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxgate.store.records import DeleteItem, NewItem, PutItem, PutMetrics, PutSummary, Write
from voxgate.store.schema import Conversation, Item, TurnMetric, utcnow

TITLE_CHARS = 80
"""A conversation's title: the start of its first user message."""


@dataclass
class _Conversation:
    """What one conversation's writes come to."""

    title: str | None
    last_position: int = -1
    stored: dict[str, int] = field(default_factory=dict)  # item_id -> row id, in the database
    inserts: dict[object, dict[str, Any]] = field(default_factory=dict)  # in order
    updates: dict[int, dict[str, Any]] = field(default_factory=dict)  # row id -> values
    deletes: set[int] = field(default_factory=set)
    drop_summaries: bool = False
    ended: bool = False
    written: bool = False


class Batch:
    """Writes to apply in one transaction (``load``, ``add`` each, then ``execute``)."""

    def __init__(self, session: AsyncSession, titles: dict[str, str | None]) -> None:
        self._session = session
        self._plans = {cid: _Conversation(title) for cid, title in titles.items()}
        self._metrics: list[dict[str, Any]] = []

    async def load(self, writes: Sequence[Write]) -> None:
        """Read the rows the writes name: their items by ``item_id``, each last position."""
        named: dict[str, set[str]] = {}
        for write in writes:
            item_id = _item_id(write)
            if item_id is not None:
                named.setdefault(write.ref.id, set()).add(item_id)
        if named:  # one query for every conversation (was one each: 60 a batch at 150 sessions)
            rows = await self._session.execute(
                select(Item.conversation_id, Item.item_id, Item.id).where(
                    Item.conversation_id.in_(named),
                    Item.item_id.in_(set().union(*named.values())),
                )
            )
            for cid, item_id, row_id in rows:
                if item_id is not None and item_id in named[cid]:
                    self._plans[cid].stored[item_id] = row_id
        lasts = await self._session.execute(
            select(Item.conversation_id, func.max(Item.position))
            .where(Item.conversation_id.in_(self._plans))
            .group_by(Item.conversation_id)
        )
        for cid, last in lasts:
            self._plans[cid].last_position = last if last is not None else -1

    def add(self, write: Write) -> None:
        """Apply one write to the plan."""
        plan = self._plans[write.ref.id]
        plan.written = True
        if isinstance(write, PutItem):
            self._put(plan, write.ref.id, write.item)
        elif isinstance(write, DeleteItem):
            plan.inserts.pop(write.item_id, None)
            row_id = plan.stored.pop(write.item_id, None)
            if row_id is not None:
                plan.updates.pop(row_id, None)
                plan.deletes.add(row_id)
        elif isinstance(write, PutMetrics):
            self._metrics.append(
                {
                    "conversation_id": write.ref.id,
                    "response_id": write.response_id,
                    "data": write.data,
                    "created_at": utcnow(),
                }
            )
        elif isinstance(write, PutSummary):
            plan.drop_summaries = True
            for key in [k for k, v in plan.inserts.items() if v["type"] == "summary"]:
                del plan.inserts[key]
            self._put(plan, write.ref.id, NewItem("summary", write.text))
        else:
            plan.ended = True

    def _put(self, plan: _Conversation, cid: str, new: NewItem) -> None:
        values = {"type": new.type, "role": new.role, "text": new.text, "data": new.data}
        if new.item_id is not None and new.item_id in plan.inserts:
            plan.inserts[new.item_id].update(values)
        elif new.item_id is not None and new.item_id in plan.stored:
            plan.updates[plan.stored[new.item_id]] = values
        else:
            plan.last_position += 1
            key: object = new.item_id if new.item_id is not None else object()
            plan.inserts[key] = {
                "conversation_id": cid,
                "position": plan.last_position,
                "item_id": new.item_id,
                "created_at": utcnow(),
                **values,
            }
        if not plan.title and new.type == "message" and new.role == "user":
            plan.title = " ".join(new.text.split())[:TITLE_CHARS] or None

    async def execute(self) -> None:
        """Send the plan: deletes, updates, inserts, metrics, and each conversation's times."""
        session = self._session
        deletes = [row_id for plan in self._plans.values() for row_id in plan.deletes]
        if deletes:
            await session.execute(delete(Item).where(Item.id.in_(deletes)))
        for cid, plan in self._plans.items():
            if plan.drop_summaries:
                await session.execute(
                    delete(Item).where(Item.conversation_id == cid, Item.type == "summary")
                )
        updates = [
            {"id": row_id, **values}
            for plan in self._plans.values()
            for row_id, values in plan.updates.items()
        ]
        if updates:
            await session.execute(update(Item), updates)
        inserts = [values for plan in self._plans.values() for values in plan.inserts.values()]
        if inserts:
            await session.execute(insert(Item), inserts)
        if self._metrics:
            await session.execute(insert(TurnMetric), self._metrics)
        now = utcnow()
        for ended in (False, True):  # by primary key, one statement for all (as executemany)
            times = [
                {"id": cid, "updated_at": now, "title": plan.title}
                | ({"ended_at": now} if ended else {})
                for cid, plan in self._plans.items()
                if plan.written and plan.ended is ended
            ]
            if times:
                await session.execute(update(Conversation), times)


def _item_id(write: Write) -> str | None:
    if isinstance(write, PutItem):
        return write.item.item_id
    if isinstance(write, DeleteItem):
        return write.item_id
    return None
