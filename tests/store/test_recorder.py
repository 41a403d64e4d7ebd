"""The recorder: events become items in order, batched, kept through a database outage."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from sqlalchemy.exc import OperationalError

from tests.images import JPEG, data_url, image_message, png
from tests.store.conftest import create_postgres_database, drop_postgres_database
from tests.store.outage import Relay
from voxgate.protocol import Event, event
from voxgate.store import ConversationRef, Conversations, Database, Recorder
from voxgate.store.items import transcript_line
from voxgate.store.records import NewItem, PutItem, Write


class Flaky(Conversations):
    """The repository, failing the next ``failing`` batches as a database that went away does."""

    def __init__(self, database: Database, failing: int = 0) -> None:
        super().__init__(database)
        self.failing = failing
        self.batches: list[int] = []

    async def apply(self, writes: Sequence[Write]) -> list[Write]:
        if self.failing:
            self.failing -= 1
            raise OperationalError("INSERT ...", {}, ConnectionRefusedError("connection refused"))
        self.batches.append(len(writes))
        return await super().apply(writes)


def user_item(item_id: str, text: str = "", **extra: object) -> dict[str, object]:
    content = {"type": "input_audio", "transcript": text or None}
    return {"id": item_id, "type": "message", "role": "user", "content": [content], **extra}


def a_turn(n: int) -> list[Event]:
    """A spoken turn as an engine tells it: the user's item first, its transcript last."""
    user_id, reply_id = f"item_u{n}", f"item_a{n}"
    reply = {
        "id": reply_id,
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_audio", "transcript": f"Answer {n}."}],
    }
    return [
        event("conversation.item.added", previous_item_id=None, item=user_item(user_id)),
        event("conversation.item.done", previous_item_id=None, item=user_item(user_id)),
        event("conversation.item.added", previous_item_id=user_id, item={**reply, "content": []}),
        event("response.output_audio_transcript.done", item_id=reply_id, transcript=f"Answer {n}."),
        event("conversation.item.done", previous_item_id=user_id, item=reply),
        event("voxgate.metrics", response_id=f"resp_{n}", metrics={"llm_first_token_ms": 1.0}),
        event(
            "conversation.item.input_audio_transcription.completed",
            item_id=user_id,
            content_index=0,
            transcript=f"Question {n}?",
        ),
    ]


async def test_a_conversation_is_recorded_in_order_in_one_batch(database: Database) -> None:
    store = Flaky(database)
    recorder = Recorder(store)
    session = recorder.conversation(ConversationRef("s1", transport="ws"))
    assert await session.opening_events() == []
    call = {"id": "item_c", "type": "function_call", "call_id": "call_1", "name": "lookup"}
    output = {"id": "item_o", "type": "function_call_output", "call_id": "call_1", "output": "42"}
    events = [
        *a_turn(1),
        event("conversation.item.done", item={**call, "arguments": '{"q": 1}'}),
        event("conversation.item.done", item=output),
        event("voxgate.handoff", call_id="call_2", **{"from": "triage", "to": "faq"}),
        event("voxgate.run.started", run_id="run_1", agent="researcher", task="Find it"),
        event(
            "voxgate.run.event",
            run_id="run_1",
            agent="researcher",
            event={"type": "textmessage", "data": {"source": "r", "content": "Found."}},
        ),
        event("voxgate.run.status", run_id="run_1", agent="researcher", status="completed"),
        *a_turn(2),
    ]
    for ev in events:
        session.observe(ev)
    assert session.summary_source() == (
        "User: Question 1?\nAgent: Answer 1.\nUser: Question 2?\nAgent: Answer 2."
    )
    await session.close()
    assert store.batches == [recorder.written]  # one batch
    stored = await store.get("s1")
    assert stored is not None
    assert [(i.type, i.role, i.text) for i in stored.items] == [
        ("message", "user", "Question 1?"),
        ("message", "assistant", "Answer 1."),
        ("function_call", None, 'lookup({"q": 1})'),
        ("function_call_output", None, "42"),
        ("handoff", None, "triage → faq"),
        ("run", None, "Find it"),
        ("run", None, "Found."),
        ("run", None, "completed"),
        ("message", "user", "Question 2?"),
        ("message", "assistant", "Answer 2."),
    ]
    assert stored.info.ended_at is not None
    assert [m["response_id"] for m in await store.metrics("s1")] == ["resp_1", "resp_2"]


async def test_writes_wait_through_failures_and_nothing_is_lost(database: Database) -> None:
    store = Flaky(database, failing=3)
    recorder = Recorder(store, interval_s=0.01, retry_max_s=0.05)
    session = recorder.conversation(ConversationRef("s1"))
    for n in range(20):
        for ev in a_turn(n):
            session.observe(ev)
    assert await recorder.flush(timeout=30)
    assert recorder.failures == 3 and recorder.dropped == 0
    stored = await store.get("s1")
    assert stored is not None
    assert [i.text for i in stored.items][-2:] == ["Question 19?", "Answer 19."]
    assert len(stored.items) == 40
    await recorder.close()


async def test_a_full_queue_drops_and_counts_the_newest(database: Database) -> None:
    store = Flaky(database, failing=1_000_000)
    recorder = Recorder(store, max_pending=3, interval_s=0.01, retry_max_s=0.05)
    ref = ConversationRef("s1")
    accepted = [recorder.record(PutItem(ref, NewItem("message", f"m{n}"))) for n in range(5)]
    assert accepted == [True, True, True, False, False]
    assert recorder.dropped == 2
    store.failing = 0
    assert await recorder.flush(timeout=30)
    stored = await store.get("s1")
    assert stored is not None and [i.text for i in stored.items] == ["m0", "m1", "m2"]
    await recorder.close()


async def test_a_write_the_database_refuses_is_dropped_alone(database: Database) -> None:
    store = Conversations(database)
    recorder = Recorder(store, interval_s=0.01)
    good, unknown_user = ConversationRef("s1"), ConversationRef("s2", user_id="nobody")
    recorder.record(PutItem(good, NewItem("message", "kept 1")))
    recorder.record(PutItem(unknown_user, NewItem("message", "refused")))  # no such user
    recorder.record(PutItem(good, NewItem("message", "kept 2")))
    assert await recorder.flush(timeout=30)
    assert recorder.dropped == 1
    stored = await store.get("s1")
    assert stored is not None and [i.text for i in stored.items] == ["kept 1", "kept 2"]
    assert await store.get("s2") is None
    await recorder.close()


async def test_restored_items_go_to_the_engine_and_are_not_recorded_again(
    database: Database,
) -> None:
    store = Flaky(database)
    recorder = Recorder(store, interval_s=0.01)
    first = recorder.conversation(ConversationRef("s1"))
    call = {"id": "item_c", "type": "function_call", "call_id": "call_1", "name": "f"}
    for ev in [
        *a_turn(1),
        event("conversation.item.done", item={**call, "arguments": "{}"}),
        event(
            "conversation.item.done",
            item={
                "id": "item_o",
                "type": "function_call_output",
                "call_id": "call_1",
                "output": "x",
            },
        ),
    ]:
        first.observe(ev)
    first.summarized("They asked one question.")
    await first.close()

    second = recorder.conversation(ConversationRef("s1"))
    opening = await second.opening_events()
    items = [ev["item"] for ev in opening]
    assert [ev["type"] for ev in opening] == ["conversation.item.create"] * 4
    assert [(i["type"], i.get("role"), i["id"]) for i in items] == [
        ("message", "user", "item_u1"),
        ("message", "assistant", "item_a1"),
        ("function_call", None, "item_c"),
        ("function_call_output", None, "item_o"),
    ]
    assert items[0]["content"] == [{"type": "input_text", "text": "Question 1?"}]
    assert items[1]["content"] == [{"type": "output_text", "text": "Answer 1."}]
    for item in items:  # the engine adds them: the session shows these events
        second.observe(event("conversation.item.added", previous_item_id=None, item=item))
        second.observe(event("conversation.item.done", previous_item_id=None, item=item))
    assert second.summary_source() is None  # nothing new was said
    second.observe(
        event(
            "conversation.item.added",
            item={
                "id": "item_t",
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "And again?"}],
            },
        )
    )
    assert second.summary_source() == "User: Question 1?\nAgent: Answer 1.\nUser: And again?"
    await second.close()
    stored = await store.get("s1")
    assert stored is not None
    assert [i.text for i in stored.items] == [
        "Question 1?",
        "Answer 1.",
        "f({})",
        "x",
        "They asked one question.",
        "And again?",
    ]


async def test_another_users_conversation_is_not_restored(database: Database) -> None:
    from tests.store.test_conversations import add_users

    await add_users(database, "u1", "u2")
    recorder = Recorder(Conversations(database), interval_s=0.01)
    recorder.record(PutItem(ConversationRef("s1", "u1", admin=False), NewItem("message", "Mine")))
    await recorder.flush(timeout=30)
    intruder = recorder.conversation(ConversationRef("s1", "u2", admin=False))
    assert await intruder.opening_events() == []
    admin = recorder.conversation(ConversationRef("s1", None, admin=True))
    assert len(await admin.opening_events()) == 0  # "Mine" has no role: not a message to give
    await recorder.close()


async def test_an_empty_transcript_removes_the_users_placeholder(database: Database) -> None:
    store = Conversations(database)
    recorder = Recorder(store, interval_s=0.01)
    session = recorder.conversation(ConversationRef("s1"))
    session.observe(event("conversation.item.added", item=user_item("item_u")))
    session.observe(
        event(
            "conversation.item.input_audio_transcription.completed", item_id="item_u", transcript=""
        )
    )
    session.observe(event("conversation.item.added", item=user_item("item_v", "Yes")))
    await session.close()
    stored = await store.get("s1")
    assert stored is not None and [i.text for i in stored.items] == ["Yes"]


@pytest.fixture
async def relayed_postgres() -> tuple[Relay, str]:
    url = await create_postgres_database()
    if url is None:
        pytest.skip("Postgres is not running on 127.0.0.1:5432")
    relay = Relay(5432)
    await relay.up()
    try:
        yield relay, url.replace(":5432/", f":{relay.port}/")
    finally:
        await relay.down()
        await drop_postgres_database(url)


async def test_postgres_going_away_and_coming_back_loses_nothing(relayed_postgres) -> None:
    relay, url = relayed_postgres
    database = await Database.open(url)
    store = Conversations(database)
    recorder = Recorder(store, interval_s=0.01, retry_max_s=0.2)
    session = recorder.conversation(ConversationRef("s1"))
    for ev in a_turn(1):
        session.observe(ev)
    assert await recorder.flush(timeout=30)
    await relay.down()
    for n in range(2, 6):
        for ev in a_turn(n):
            session.observe(ev)
    assert not await recorder.flush(timeout=1)  # Postgres is away: the writes wait
    assert recorder.failures >= 1 and recorder.pending > 0
    await relay.up()
    assert await recorder.flush(timeout=60)
    stored = await store.get("s1")
    assert stored is not None
    assert [i.text for i in stored.items] == [
        text for n in range(1, 6) for text in (f"Question {n}?", f"Answer {n}.")
    ]
    assert recorder.dropped == 0
    await recorder.close()
    await database.close()


async def test_no_summary_is_asked_when_summaries_are_off(database: Database) -> None:
    recorder = Recorder(Conversations(database), summaries=False)
    session = recorder.conversation(ConversationRef("s1"))
    for ev in a_turn(1):
        session.observe(ev)
    assert session.summary_source() is None
    await session.close()


async def test_an_image_is_kept_as_a_reference_and_resumed_as_words(database: Database) -> None:
    store = Conversations(database)
    recorder = Recorder(store, interval_s=0.01)
    first = recorder.conversation(ConversationRef("s1"))
    photo = png(8, 8) + b"\0" * 200_000  # a photo's bytes are not a row's
    with_words = {"id": "item_i1", **image_message(data_url(photo), "What is this?")}
    alone = {"id": "item_i2", **image_message(data_url(JPEG, "image/jpeg"), detail="low")}
    for item in (with_words, alone):
        first.observe(event("conversation.item.added", previous_item_id=None, item=item))
        first.observe(event("conversation.item.done", previous_item_id=None, item=item))
    assert first.summary_source() == "User: What is this? [image]\nUser: [image]"
    await first.close()
    stored = await store.get("s1")
    assert stored is not None
    assert [(i.role, i.text, i.data) for i in stored.items] == [
        ("user", "What is this? [image]", {"images": [
            {"media_type": "image/png", "bytes": len(photo), "detail": "auto"}]}),
        ("user", "[image]", {"images": [
            {"media_type": "image/jpeg", "bytes": len(JPEG), "detail": "low"}]}),
    ]  # fmt: skip
    assert len(json.dumps([i.to_json() for i in stored.items])) < 1000
    assert [transcript_line(i.type, i.role, i.text) for i in stored.items] == [
        "User: What is this? [image]",
        "User: [image]",
    ]
    second = recorder.conversation(ConversationRef("s1"))
    opening = await second.opening_events()
    assert [ev["item"]["content"] for ev in opening] == [
        [{"type": "input_text", "text": "What is this? [image]"}],
        [{"type": "input_text", "text": "[image]"}],
    ]
    await second.close()
    await recorder.close()


async def test_a_form_already_recorded_or_an_emptier_one_is_not_written_again(
    database: Database,
) -> None:
    recorder = Recorder(Conversations(database), interval_s=0.01)
    session = recorder.conversation(ConversationRef("s1"))
    reply = {
        "id": "item_a",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_audio", "transcript": "Hello."}],
    }
    session.observe(event("conversation.item.done", item=reply))
    written = recorder.recorded
    session.observe(event("conversation.item.done", item=reply))  # the same again
    session.observe(event("conversation.item.done", item={**reply, "content": []}))  # emptier
    assert recorder.recorded == written
    longer = {**reply, "content": [{"type": "output_audio", "transcript": "Hello there."}]}
    session.observe(event("conversation.item.done", item=longer))
    assert recorder.recorded == written + 1
    await session.close()
    stored = await Conversations(database).get("s1")
    assert stored is not None and [i.text for i in stored.items] == ["Hello there."]
