"""What the local engine's model sees of a long conversation, under each ``truncation``."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from voxgate.components.llm import ChatMessage
from voxgate.engines.core.config import SessionConfig
from voxgate.engines.local import LocalModels
from voxgate.engines.local.engine import LocalEngine
from voxgate.protocol import Event
from voxgate.settings import Settings

FACT = "The Roman empire was founded in 27 BC by Augustus and lasted in the west until 476 AD."


class Recording:
    """The shared model, noting the messages each reply was asked with."""

    def __init__(self, llm: Any) -> None:
        self._llm = llm
        self.asked: list[list[ChatMessage]] = []
        self.prefilled: list[list[ChatMessage]] = []
        self.context_window = llm.context_window
        self.count_tokens = llm.count_tokens
        self.prepare = llm.prepare

    def stream(self, messages: list[ChatMessage], **kwargs: Any) -> Any:
        self.asked.append(messages)
        return self._llm.stream(messages, **kwargs)

    async def prefill(self, messages: list[ChatMessage]) -> None:
        self.prefilled.append(messages)
        await self._llm.prefill(messages)


@pytest.fixture
def recording(models: LocalModels) -> tuple[LocalModels, Recording]:
    llm = Recording(models.llm)
    return dataclasses.replace(models, llm=llm), llm  # type: ignore[arg-type]


async def exchange(engine: LocalEngine, turns: int, start: int = 0) -> None:
    """``turns`` user questions, each with an assistant answer, as conversation items."""
    for n in range(start, start + turns):
        for role, text in (("user", f"Tell me fact {n}."), ("assistant", FACT)):
            kind = "input_text" if role == "user" else "output_text"
            await engine.send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": role,
                        "content": [{"type": kind, "text": text}],
                    },
                }
            )


async def respond(engine: LocalEngine, stream: Any) -> Event:
    await engine.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    while True:
        ev = await asyncio.wait_for(anext(stream), 60)
        if ev["type"] == "response.done":
            return ev


def new_engine(models: LocalModels) -> tuple[LocalEngine, Any]:
    engine = LocalEngine(models, SessionConfig.from_settings(Settings(_env_file=None)))  # type: ignore[call-arg]
    return engine, engine.events()


async def test_a_conversation_longer_than_the_context_is_answered_from_its_recent_turns(recording):
    models, llm = recording
    engine, stream = new_engine(models)
    await exchange(engine, 80)  # ~2,500 tokens: more than the 2,048-token context
    done = await respond(engine, stream)
    assert done["response"]["status"] == "completed"
    seen = llm.asked[-1]
    assert seen[0]["role"] == "system" and seen[1]["content"].startswith("Tell me fact")
    assert seen[-2]["content"] == "Tell me fact 79."  # the latest turns are all there
    assert sum(len(m["content"] or "") for m in seen[1:]) < 512 * 5  # within the budget
    await engine.close()


async def test_disabled_truncation_sends_everything(recording):
    models, llm = recording
    engine, stream = new_engine(models)
    await engine.send({"type": "session.update", "session": {"truncation": "disabled"}})
    await exchange(engine, 80)
    done = await respond(engine, stream)
    assert len(llm.asked[-1]) == 1 + 160
    # SmolLM2 itself reads only the last user turns (components/llm/llama.py TALK_TURNS), so a
    # history past its context no longer fails the reply
    assert done["response"]["status"] == "completed"
    await engine.close()


async def test_retention_keeps_the_start_of_the_prompt_until_the_limit_is_passed_again(recording):
    models, llm = recording
    engine, stream = new_engine(models)
    limit = {
        "type": "retention_ratio",
        "retention_ratio": 0.5,
        "token_limits": {"post_instructions": 300},
    }
    await engine.send({"type": "session.update", "session": {"truncation": limit}})
    await exchange(engine, 10)  # ~330 tokens: over the limit
    await respond(engine, stream)
    first_start = llm.asked[-1][1]["content"]
    assert first_start != "Tell me fact 0."  # the oldest turns went
    await exchange(engine, 1, start=10)
    await respond(engine, stream)
    assert llm.asked[-1][1]["content"] == first_start  # kept: the prompt's start is unchanged
    await exchange(engine, 6, start=11)  # past the limit again
    await respond(engine, stream)
    assert llm.asked[-1][1]["content"] != first_start
    await engine.close()


async def test_a_new_question_after_an_overlong_turn_is_seen_alone_and_stays_seen(recording):
    models, _ = recording
    engine, _ = new_engine(models)
    long_answer = " ".join([FACT] * 30)  # ~600 tokens: past the 512-token budget by itself
    await engine.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Go on."}],
            },
        }
    )
    await engine.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": long_answer}],
            },
        }
    )
    # speculative: the question is not an item yet
    assert [m["content"] for m in engine._chat_messages(None, "And then?")][1:] == ["And then?"]
    await engine.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "And then?"}],
            },
        }
    )
    assert [m["content"] for m in engine._chat_messages(None)][1:] == ["And then?"]
    await engine.close()
