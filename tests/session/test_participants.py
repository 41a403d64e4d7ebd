"""Participants of one session: join / leave / mute / remove events, roles, mixed microphones,
errors to their sender only, a stalled speaker that holds no one, and resuming after a drop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from tests.session.test_session import Recorder
from voxgate.protocol import Event, ProtocolError, error_event, event
from voxgate.session import Session, SessionRegistry
from voxgate.session.mixer import FRAME_BYTES, FRAME_SAMPLES

JOINED, LEFT, UPDATED = (f"voxgate.participant.{t}" for t in ("joined", "left", "updated"))


class EarEngine:
    """Records the input audio it hears; refuses an empty commit and an unknown item."""

    def __init__(self) -> None:
        self.heard = bytearray()
        self.received: list[Event] = []
        self._out: asyncio.Queue[Event | None] = asyncio.Queue()
        self._out.put_nowait(event("session.created", session={"id": "sess_ear"}))

    async def send(self, ev: Event) -> None:
        self.received.append(ev)
        if ev["type"] == "input_audio_buffer.append":
            self.heard += ev["audio"]
        elif ev["type"] == "input_audio_buffer.commit":
            self._out.put_nowait(event("input_audio_buffer.committed", item_id="item_1"))
        elif ev["type"] == "conversation.item.delete":
            self._out.put_nowait(
                error_event("no such item", code="item_not_found", event_id=ev.get("event_id"))
            )
        elif ev["type"] == "response.create":
            self._out.put_nowait(event("response.created", response={"id": "resp_1"}))

    async def events(self) -> AsyncIterator[Event]:
        while (ev := await self._out.get()) is not None:
            yield ev

    async def close(self) -> None:
        self._out.put_nowait(None)

    async def heard_at_least(self, n: int, timeout: float = 5) -> bytes:
        async with asyncio.timeout(timeout):
            while len(self.heard) < n:
                await asyncio.sleep(0.005)
        return bytes(self.heard)


def frame(value: int) -> bytes:
    return np.full(FRAME_SAMPLES, value, np.int16).tobytes()


def of(client: Recorder, type_: str) -> list[Event]:
    return [ev for ev in client.events if ev["type"] == type_]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_join_and_leave_are_told_to_everyone_with_who_is_here():
    session = Session("s", lambda _: EarEngine())
    first, second = Recorder(), Recorder()
    me = session.join(first, transport="websocket")
    await first.until(JOINED)
    assert first.events[0]["type"] == "session.created"  # still the first event
    (mine,) = of(first, JOINED)
    assert mine["you"] is True and mine["participant"]["id"] == me.id
    assert mine["participant"]["role"] == "speaker"
    other = session.join(second, role="listener", transport="webrtc")
    assert second.types()[0] == "session.created"
    (theirs,) = of(second, JOINED)
    assert theirs["you"] is True and [p["id"] for p in theirs["participants"]] == [me.id, other.id]
    told = of(first, JOINED)[-1]
    assert "you" not in told and told["participant"]["role"] == "listener"
    session.leave(second)
    (left,) = of(first, LEFT)
    assert left["participant"]["id"] == other.id and left["reason"] == "left"
    assert [p["id"] for p in left["participants"]] == [me.id]
    await session.close()


async def test_listener_audio_is_ignored_with_one_error():
    engine = EarEngine()
    session = Session("s", lambda _: engine)
    listener = Recorder()
    who = session.join(listener, role="listener")
    await listener.until("session.created")
    for _ in range(20):
        await session.append_audio(frame(1000), who)
    errors = of(listener, "error")
    assert [e["error"]["code"] for e in errors] == ["listener_audio_ignored"]
    assert not engine.heard
    await session.close()


async def test_mute_unmute_and_gain_change_what_the_engine_hears():
    engine = EarEngine()
    session = Session("s", lambda _: engine)
    a, b = Recorder(), Recorder()
    pa, pb = session.join(a), session.join(b)
    await a.until(JOINED)
    assert session.roster.mute(pb.id, True) is pb
    (update,) = of(a, UPDATED)
    assert update["participant"] == {**update["participant"], "id": pb.id, "muted": True}
    await session.append_audio(frame(50), pb)  # muted: not heard
    await session.append_audio(frame(7), pa)  # alone: passes through
    assert await engine.heard_at_least(FRAME_BYTES) == frame(7)
    session.roster.mute(pb.id, False)
    session.roster.set_gain(pb.id, 2.0)
    await session.append_audio(frame(50), pb)
    await session.append_audio(frame(7), pa)
    heard = await engine.heard_at_least(2 * FRAME_BYTES)
    assert heard[FRAME_BYTES:] == frame(107)
    session.roster.mute(pb.id, True)
    session.roster.mute(pb.id, False)  # its gain outlives a mute
    await session.append_audio(frame(50), pb)
    await session.append_audio(frame(7), pa)
    heard = await engine.heard_at_least(3 * FRAME_BYTES)
    assert heard[2 * FRAME_BYTES :] == frame(107)
    assert session.roster.mute("part_nobody", True) is None
    await session.close()


async def test_remove_tells_everyone_and_ends_the_connection():
    session = Session("s", lambda _: EarEngine())
    host, guest = Recorder(), Recorder()
    ended: list[str] = []

    async def disconnect(reason: str) -> None:
        ended.append(reason)

    session.join(host)
    who = session.join(guest, disconnect=disconnect)
    await host.until(JOINED)
    assert await session.remove(who.id) is who
    assert ended == ["removed from the session"]
    for client in (host, guest):
        (left,) = of(client, LEFT)
        assert left["reason"] == "removed" and left["participant"]["id"] == who.id
    assert who.id not in session.members
    session.leave(guest)  # the transport leaves afterwards: nothing more is said
    assert len(of(host, LEFT)) == 1
    assert await session.remove(who.id) is None
    await session.close()


async def test_a_full_session_refuses_one_more():
    session = Session("s", lambda _: EarEngine(), max_participants=2)
    session.join(Recorder())
    session.join(Recorder())
    with pytest.raises(ProtocolError) as refused:
        session.join(Recorder())
    assert refused.value.code == "session_full" and "2 participants" in str(refused.value)
    await session.close()


async def test_an_error_goes_only_to_the_participant_whose_event_caused_it():
    session = Session("s", lambda _: EarEngine())
    a, b = Recorder(), Recorder()
    pa = session.join(a)
    session.join(b)
    await b.until(JOINED)
    await session.send({"type": "conversation.item.delete", "item_id": "item_x"}, pa)
    error = await a.until("error")
    assert error["error"]["code"] == "item_not_found"
    assert error["error"]["event_id"] is None  # the client sent none: none comes back
    await session.send(
        {"type": "conversation.item.delete", "item_id": "item_y", "event_id": "mine"}, pa
    )
    await settle()
    assert [e["error"]["event_id"] for e in of(a, "error")] == [None, "mine"]
    assert not of(b, "error")
    await session.close()


async def test_a_stalled_speaker_does_not_delay_the_others():
    engine = EarEngine()
    session = Session("s", lambda _: engine)
    talker, stalled = Recorder(), Recorder()
    pt, ps = session.join(talker), session.join(stalled)
    await session.append_audio(frame(0), ps)  # its microphone started...
    await session.append_audio(frame(1), pt)
    await session.append_audio(bytes(FRAME_BYTES // 2), ps)  # ...and stopped mid-frame
    for value in range(2, 41):
        await asyncio.sleep(0.02)  # a microphone's pace
        await session.append_audio(frame(value), pt)
    heard = await engine.heard_at_least(41 * FRAME_BYTES)  # no more audio is coming
    values = np.frombuffer(heard, np.int16)[::FRAME_SAMPLES]
    assert [int(v) for v in values if v] == list(range(1, 41))  # all of it, in order
    await session.close()


async def test_a_commit_carries_what_the_mixer_holds():
    engine = EarEngine()
    session = Session("s", lambda _: engine)
    pa, pb = session.join(Recorder()), session.join(Recorder())
    await session.append_audio(frame(1), pa)
    await session.append_audio(frame(2) + frame(2), pb)  # waits for a's next frame
    await session.commit_audio(pa)
    kinds = [ev["type"] for ev in engine.received]
    commit = kinds.index("input_audio_buffer.commit")
    assert kinds[:commit] == ["input_audio_buffer.append"] * 3  # nothing left behind it
    assert len(engine.heard) == 3 * FRAME_BYTES
    await session.close()


async def test_a_session_without_callers_keeps_its_events_for_the_first_one_back():
    engine = EarEngine()
    registry = SessionRegistry(lambda _: engine, grace_s=30)
    session = registry.open("s")
    first = Recorder()
    session.join(first)
    await first.until(JOINED)
    session.leave(first)
    await registry.release(session)  # kept: a grace period
    assert registry.get("s") is session
    await session.send({"type": "response.create"})  # the reply goes on while nobody is here
    await settle()
    back = Recorder()
    assert registry.open("s") is session
    session.join(back)
    assert back.types() == ["session.created", "response.created"]
    later = Recorder()
    session.join(later)
    assert later.types() == ["session.created"]  # the backlog went to the first one back
    await registry.close()


async def test_an_empty_session_closes_after_the_grace_period_unless_rejoined():
    registry = SessionRegistry(lambda _: EarEngine(), grace_s=0.05)
    session = registry.open("s")
    client = Recorder()
    session.join(client)
    session.leave(client)
    await registry.release(session)
    again = Recorder()
    session.join(again)  # back within the grace period
    await asyncio.sleep(0.1)
    assert registry.get("s") is session and not session.ended.is_set()
    session.leave(again)
    await registry.release(session)
    await asyncio.wait_for(session.ended.wait(), 5)
    assert registry.get("s") is None
    await registry.close()
