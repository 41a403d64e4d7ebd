"""A spoken reply paused by a sound over it: resumed where the caller stopped, or cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from voxgate.engines.core.run import ResponseRun
from voxgate.protocol import Event, to_wire, validate_server_event

PHRASE_MS = 1000  # two phrases go out at once, the third waits for playback
BYTES_PER_MS = 48


class Words:
    """A language model that says three short sentences."""

    async def stream(self, messages: Any, **kwargs: Any) -> AsyncIterator[str]:
        for piece in ["One two. ", "Three four. ", "Five six."]:
            yield piece


async def speak(phrase: str, speed: float = 1.0) -> bytes:
    return bytes([len(phrase)]) * (PHRASE_MS * BYTES_PER_MS)  # each phrase its own bytes


async def no_messages() -> list[Any]:
    return []


def run() -> tuple[ResponseRun, list[Event]]:
    events: list[Event] = []
    reply = ResponseRun(llm=Words(), messages=no_messages, emit=events.append, speak=speak)  # type: ignore[arg-type]
    return reply, events


def audio(events: list[Event]) -> bytes:
    return b"".join(ev["delta"] for ev in events if ev["type"] == "response.output_audio.delta")


async def until(condition: Any, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_paused_reply_sends_nothing_then_resumes_with_what_was_not_heard():
    reply, events = run()
    reply.start()
    await until(lambda: audio(events))
    await asyncio.sleep(0.2)
    assert reply.pause()
    paused_at = len(events)
    await asyncio.sleep(0.5)
    assert len(events) == paused_at  # nothing goes out while paused, not even response.done
    sent = audio(events)
    start_ms = reply.resume()
    assert 150 <= start_ms <= 400
    await until(lambda: reply.done)
    assert reply.status == "completed"
    again = audio(events[paused_at:])
    offset = int(start_ms * BYTES_PER_MS / 2) * 2  # whole samples
    unheard = sent[offset:]
    assert again.startswith(unheard)  # the caller hears on from where playback stopped
    heard = sent[:offset]
    assert len(heard) + len(again) == int(reply.playback.sent_ms) * BYTES_PER_MS  # and the rest
    assert len(again) > len(unheard)
    for ev in events:
        validate_server_event(to_wire(ev))


async def test_a_paused_reply_cancelled_is_truncated_where_it_paused():
    reply, events = run()
    reply.start()
    await until(lambda: audio(events))
    await asyncio.sleep(0.2)
    reply.pause()
    await asyncio.sleep(0.6)  # heard time stands still while paused
    reply.cancel("turn_detected")
    await until(lambda: reply.done)
    done = next(ev for ev in events if ev["type"] == "response.done")
    assert done["response"]["status"] == "cancelled"
    truncated = next(ev for ev in events if ev["type"] == "conversation.item.truncated")
    assert 150 <= truncated["audio_end_ms"] <= 400


async def test_a_text_reply_does_not_pause():
    events: list[Event] = []
    reply = ResponseRun(llm=Words(), messages=no_messages, emit=events.append)  # type: ignore[arg-type]
    reply.start()
    assert not reply.pause()
    await until(lambda: reply.done)
    assert reply.status == "completed"


async def test_a_reply_to_a_request_to_speak_more_slowly_is_spoken_slower():
    speeds: list[float] = []

    async def noting(phrase: str, speed: float = 1.0) -> bytes:
        speeds.append(speed)
        return await speak(phrase)

    async def asked(request: str) -> list[Any]:
        return [{"role": "user", "content": request}]

    for request in ("Could you repeat that more slowly?", "Could you repeat that?"):
        reply = ResponseRun(
            llm=Words(),  # type: ignore[arg-type]
            messages=lambda request=request: asked(request),
            emit=lambda ev: None,
            speak=noting,
            speed=1.25,
        )
        reply.start()
        await until(lambda reply=reply: reply.done)
    assert speeds == [1.0] * 3 + [1.25] * 3
