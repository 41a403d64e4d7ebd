"""The conversations repository on SQLite and Postgres: writes, ownership, listing, search."""

from __future__ import annotations

import pytest

from voxgate.store import ConversationRef, Conversations, Database
from voxgate.store.conversations import BadCursor
from voxgate.store.records import (
    DeleteItem,
    EndConversation,
    NewItem,
    PutItem,
    PutMetrics,
    PutSummary,
)
from voxgate.store.schema import User


async def add_users(database: Database, *ids: str) -> None:
    async with database.sessions.begin() as session:
        for user_id in ids:
            session.add(User(id=user_id, name=user_id, role="user"))


def user(text: str, item_id: str | None = None) -> NewItem:
    return NewItem("message", text, role="user", item_id=item_id)


def agent(text: str, item_id: str | None = None) -> NewItem:
    return NewItem("message", text, role="assistant", item_id=item_id)


async def test_items_keep_their_order_and_a_later_write_replaces_in_place(
    database: Database,
) -> None:
    store = Conversations(database)
    ref = ConversationRef("c1", agent="triage", transport="ws")
    await store.apply([PutItem(ref, user("", "item_u1")), PutItem(ref, agent("Hi!", "item_a1"))])
    await store.apply(
        [
            PutItem(ref, user("Hello there", "item_u1")),  # its transcript came after the reply
            PutItem(ref, NewItem("handoff", "triage → faq", data={"from": "triage", "to": "faq"})),
            PutMetrics(ref, "resp_1", {"metrics": {"llm_first_token_ms": 50.0}}),
        ]
    )
    stored = await store.get("c1")
    assert stored is not None
    assert [(i.position, i.type, i.role, i.text) for i in stored.items] == [
        (0, "message", "user", "Hello there"),
        (1, "message", "assistant", "Hi!"),
        (2, "handoff", None, "triage → faq"),
    ]
    assert stored.items[2].data == {"from": "triage", "to": "faq"}
    assert stored.info.title == "Hello there"
    assert (stored.info.agent, stored.info.transport, stored.info.user_id) == ("triage", "ws", None)
    metrics = await store.metrics("c1")
    assert metrics[0]["response_id"] == "resp_1"
    assert metrics[0]["metrics"] == {"llm_first_token_ms": 50.0}


async def test_delete_summary_and_end(database: Database) -> None:
    store = Conversations(database)
    ref = ConversationRef("c1")
    await store.apply([PutItem(ref, user("One", "i1")), PutItem(ref, user("Two", "i2"))])
    await store.apply([DeleteItem(ref, "i1"), PutSummary(ref, "First."), EndConversation(ref)])
    await store.apply([PutItem(ref, user("Three", "i3")), PutSummary(ref, "Second.")])
    stored = await store.get("c1")
    assert stored is not None
    assert [(i.type, i.text) for i in stored.items] == [
        ("message", "Two"),
        ("message", "Three"),
        ("summary", "Second."),
    ]
    assert stored.info.ended_at is not None
    last = await store.get("c1", last=2)
    assert last is not None and [i.text for i in last.items] == ["Three", "Second."]
    assert await store.delete("c1")
    assert await store.get("c1") is None
    assert await store.metrics("c1") == []
    assert not await store.delete("c1")


async def test_a_user_cannot_write_into_another_users_conversation(database: Database) -> None:
    await add_users(database, "u1", "u2")
    store = Conversations(database)
    mine = ConversationRef("c1", user_id="u1", admin=False)
    theirs = ConversationRef("c1", user_id="u2", admin=False)
    admin = ConversationRef("c1", user_id=None, admin=True)
    assert await store.apply([PutItem(mine, user("Mine"))]) == []
    refused = await store.apply([PutItem(theirs, user("Not yours")), PutItem(admin, agent("Ok"))])
    assert [w.ref for w in refused] == [theirs]
    stored = await store.get("c1")
    assert stored is not None and stored.info.user_id == "u1"
    assert [i.text for i in stored.items] == ["Mine", "Ok"]


async def test_listing_is_per_user_latest_first_and_pages(database: Database) -> None:
    await add_users(database, "u1", "u2")
    store = Conversations(database)
    for n in range(5):
        await store.apply([PutItem(ConversationRef(f"a{n}", "u1", admin=False), user(f"n{n}"))])
    await store.apply([PutItem(ConversationRef("b0", "u2", admin=False), user("other"))])
    first = await store.page(user_id="u1", limit=2)
    assert [c.id for c in first.conversations] == ["a4", "a3"]
    assert first.has_more and first.next_cursor
    second = await store.page(user_id="u1", limit=2, cursor=first.next_cursor)
    third = await store.page(user_id="u1", limit=2, cursor=second.next_cursor)
    assert [c.id for c in second.conversations] == ["a2", "a1"]
    assert [c.id for c in third.conversations] == ["a0"]
    assert not third.has_more and third.next_cursor is None
    by_offset = await store.page(user_id="u1", limit=2, offset=3)
    assert [c.id for c in by_offset.conversations] == ["a1", "a0"]
    everyone = await store.page(everyone=True, limit=100)
    assert {c.id for c in everyone.conversations} == {"a0", "a1", "a2", "a3", "a4", "b0"}
    assert (await store.page(user_id="u2")).conversations[0].id == "b0"
    with pytest.raises(BadCursor):
        await store.page(user_id="u1", cursor="not-a-cursor")


async def test_search_finds_item_text_case_insensitively_and_literally(database: Database) -> None:
    store = Conversations(database)
    ref1, ref2 = ConversationRef("c1"), ConversationRef("c2")
    await store.apply([PutItem(ref1, user("Hi")), PutItem(ref1, agent("Your seat is 14C."))])
    await store.apply([PutItem(ref2, user("What about 100% of the wifi_fee?"))])
    assert [c.id for c in (await store.page(everyone=True, query="SEAT IS")).conversations] == [
        "c1"
    ]
    assert [c.id for c in (await store.page(everyone=True, query="100%")).conversations] == ["c2"]
    assert [c.id for c in (await store.page(everyone=True, query="i_f")).conversations] == ["c2"]
    assert (await store.page(everyone=True, query="_")).conversations[0].id == "c2"
    assert (await store.page(everyone=True, query="nowhere")).conversations == []


async def test_one_batch_applies_its_writes_in_order(database: Database) -> None:
    store = Conversations(database)
    ref = ConversationRef("c1")
    await store.apply([PutItem(ref, user("stored", "i0"))])
    await store.apply(
        [
            PutItem(ref, user("a", "i1")),
            PutItem(ref, user("b", "i2")),
            PutItem(ref, user("a, completed", "i1")),  # replaces the insert of this batch
            DeleteItem(ref, "i2"),
            PutItem(ref, user("c", "i2")),  # the id again: a new item, last
            DeleteItem(ref, "i0"),
            PutItem(ref, user("stored again", "i0")),  # deleted and re-added in one batch
            PutSummary(ref, "first"),
            PutSummary(ref, "second"),
        ]
    )
    stored = await store.get("c1")
    assert stored is not None
    assert [(i.item_id, i.text) for i in stored.items] == [
        ("i1", "a, completed"),
        ("i2", "c"),
        ("i0", "stored again"),
        (None, "second"),
    ]
    assert [i.position for i in stored.items] == sorted(i.position for i in stored.items)
    assert stored.info.title == "stored"
