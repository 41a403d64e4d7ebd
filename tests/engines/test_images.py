"""The local engine and an image: kept in the conversation, answered in words, never prompted."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from tests.conftest import silence
from tests.engines.test_truncation import new_engine, recording  # noqa: F401 (a fixture)
from tests.images import create_image, data_url, png
from voxgate.engines.core.engine import IMAGE_REPLY
from voxgate.protocol import Event, to_wire, validate_server_event

IMAGE = png(8, 8) + b"\0" * 64  # trailing bytes: a long, recognisable base64
URL = data_url(IMAGE)
B64 = base64.b64encode(IMAGE).decode()


async def until(stream: Any, type_: str, seen: list[Event]) -> Event:
    async with asyncio.timeout(60):
        while True:
            ev = await anext(stream)
            if not ev["type"].startswith("voxgate."):
                validate_server_event(to_wire(ev))
            seen.append(ev)
            if ev["type"] == type_:
                return ev


def text_message(text: str) -> Event:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return {"type": "conversation.item.create", "item": item}


def reply_text(done: Event) -> str:
    [message] = [o for o in done["response"]["output"] if o["type"] == "message"]
    part = message["content"][0]
    return str(part.get("text") or part.get("transcript"))


async def test_an_image_is_kept_answered_in_words_and_never_reaches_the_prompt(recording):  # noqa: F811
    models, llm = recording
    engine, stream = new_engine(models)
    seen: list[Event] = []
    try:
        await until(stream, "session.created", seen)
        await engine.send(create_image(URL, "What is in this picture?"))
        added = await until(stream, "conversation.item.added", seen)
        assert added["item"]["content"][1] == {
            "type": "input_image",
            "image_url": URL,
            "detail": "auto",
        }
        done_item = await until(stream, "conversation.item.done", seen)
        assert done_item["item"]["content"] == added["item"]["content"]
        text = {"output_modalities": ["text"]}
        await engine.send({"type": "response.create", "response": text})
        done = await until(stream, "response.done", seen)
        assert done["response"]["status"] == "completed"
        assert reply_text(done) == IMAGE_REPLY
        assert llm.asked == []  # the model was not asked about what it cannot see
        assert engine.conversation.items[0]["content"][1]["image_url"] == URL  # kept

        # the user says what it shows: the model answers, from the words alone
        await engine.send(text_message("It is a red square. What colour is it?"))
        await engine.send({"type": "response.create", "response": text})
        done = await until(stream, "response.done", seen)
        assert done["response"]["status"] == "completed"
        assert reply_text(done) != IMAGE_REPLY
        [prompt] = llm.asked
        assert prompt[-1]["content"] == "It is a red square. What colour is it?"
        assert {"role": "user", "content": "What is in this picture?"} in prompt
        assert {"role": "assistant", "content": IMAGE_REPLY} in prompt
        assert B64[:40] not in repr(prompt) and "data:image" not in repr(prompt)
    finally:
        await engine.close()


async def test_an_image_without_words_is_answered_aloud(recording):  # noqa: F811
    models, llm = recording
    engine, stream = new_engine(models)
    seen: list[Event] = []
    try:
        await engine.send(create_image(URL))
        await engine.send({"type": "response.create"})  # the session's audio
        done = await until(stream, "response.done", seen)
        assert done["response"]["status"] == "completed"
        assert reply_text(done) == IMAGE_REPLY
        assert any(ev["type"] == "response.output_audio.delta" for ev in seen)
        assert llm.asked == []
        # an out-of-band response with its own words is not about the image
        own = {"conversation": "none", "output_modalities": ["text"], "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
        ]}  # fmt: skip
        await engine.send({"type": "response.create", "response": own})
        done = await until(stream, "response.done", seen)
        assert reply_text(done) != IMAGE_REPLY and len(llm.asked) == 1
    finally:
        await engine.close()


async def test_a_spoken_turn_after_an_image_is_told_the_same(recording, speech):  # noqa: F811
    models, llm = recording
    engine, stream = new_engine(models)
    seen: list[Event] = []
    try:
        await engine.send(create_image(URL))
        pcm = silence(300) + speech("What do you see in it?") + silence(1500)
        for start in range(0, len(pcm), 960):  # 20 ms appends
            await engine.send(
                {"type": "input_audio_buffer.append", "audio": pcm[start : start + 960]}
            )
            await asyncio.sleep(0)
        heard = await until(stream, "conversation.item.input_audio_transcription.completed", seen)
        assert "see" in heard["transcript"].lower()
        done = await until(stream, "response.done", seen)
        assert reply_text(done) == IMAGE_REPLY
        assert llm.asked == []  # nor was a speculative reply started on the model
    finally:
        await engine.close()
