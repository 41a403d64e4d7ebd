"""A scripted engine: no audio, no model; each response does what the test scripted.

It is the engines' core with a scripted language model, so replies take the same path, and
speak the same GA events (text output), as a real engine's: the agent runtime, the session
and any client cannot tell it from one.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from voxgate.components.llm import ChatMessage, Tool, ToolCall, ToolChoice, Usage
from voxgate.engines.core.config import SessionConfig
from voxgate.engines.core.engine import ConversationEngine
from voxgate.engines.core.run import ResponseFailed, ResponseRun
from voxgate.protocol import Event, event, new_id

Items = list[dict[str, Any]]


@dataclass
class FunctionCall:
    """A call the scripted model makes."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    call_id: str = field(default_factory=lambda: new_id("call"))

    @property
    def arguments_json(self) -> str:
        """The arguments as the model sends them: a JSON string."""
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass
class Reply:
    """What the scripted model does in one response: calls functions, then says ``text``."""

    text: str | None = None
    calls: list[FunctionCall] = field(default_factory=list)
    hold: bool = False
    """Stay in progress after the output until cancelled (a long reply, for barge-in tests)."""


Step = Reply | Callable[[Items], Reply]
"""A reply, or a function of the conversation so far returning one."""


def say(text: str | Callable[[Items], str], *, hold: bool = False) -> Step:
    """A reply saying ``text`` (or what ``text(conversation)`` returns)."""
    if callable(text):
        make = text
        return lambda items: Reply(text=make(items), hold=hold)
    return Reply(text=text, hold=hold)


def call(name: str, arguments: dict[str, Any] | str | None = None, /, **kw: Any) -> Reply:
    """A reply calling one function: ``call("get_weather", city="Paris")``."""
    return Reply(calls=[FunctionCall(name, arguments if arguments is not None else kw)])


def last_output(items: Items) -> str:
    """The latest ``function_call_output`` in the conversation (to echo a tool's result)."""
    for item in reversed(items):
        if item.get("type") == "function_call_output":
            return str(item.get("output", ""))
    return ""


class ScriptedModel:
    """A ``LanguageModel`` whose every reply is the next step of ``script``.

    A step may read the conversation (``items``); its calls stream first, under their own
    ``call_id``, then its text, and ``hold`` keeps the reply going until it is cancelled.
    """

    context_window = 1 << 20

    def __init__(self, script: list[Step], items: Callable[[], Items]) -> None:
        self.script = script
        self._items = items
        self.holding = False
        """Whether the latest reply stays in progress, its output given, until cancelled."""

    def count_tokens(self, text: str) -> int:
        """Words, for a model without a tokenizer."""
        return len(text.split())

    async def prepare(self, instructions: str, tools: list[Tool]) -> None:
        """Nothing to prepare."""

    async def prefill(self, messages: list[ChatMessage]) -> None:
        """Nothing to evaluate ahead."""

    async def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        usage: Usage | None = None,
        tools: list[Tool] | None = None,
        tool_choice: ToolChoice = "auto",
    ) -> AsyncIterator[str | ToolCall]:
        """The next step's calls, then its text."""
        self.holding = False
        if not self.script:
            raise ResponseFailed(
                "the scripted engine ran out of script: add a step for this response",
                code="script_exhausted",
            )
        step = self.script.pop(0)
        try:
            reply = step(copy.deepcopy(self._items())) if callable(step) else step
        except Exception as exc:
            raise ResponseFailed(
                f"a script step raised {type(exc).__name__}: {exc}", code="script_error"
            ) from exc
        for fc in reply.calls:
            yield ToolCall(fc.name, fc.arguments_json, call_id=fc.call_id)
        if reply.text is not None:
            yield reply.text
        self.holding = reply.hold


class _ScriptedRun(ResponseRun):
    """A response whose scripted reply may hold it in progress, its output whole."""

    async def _generate(self) -> None:
        await super()._generate()
        if isinstance(self.llm, ScriptedModel) and self.llm.holding:
            await asyncio.Event().wait()  # until cancelled


class ScriptedEngine(ConversationEngine):
    """An ``Engine`` whose responses follow ``script``, one step per ``response.create``."""

    response_type = _ScriptedRun
    sees_images = True
    """The script is the model: a step reads the conversation, its images included."""

    def __init__(self, script: Iterable[Step] = ()) -> None:
        self.received: list[Event] = []
        """Every client event, in order (tests assert on what the runtime sent)."""
        self._model = ScriptedModel(list(script), lambda: self.conversation.items)
        config = SessionConfig(
            instructions="",
            voice="scripted",
            turn_detection=None,
            output_modalities=["text"],
            model="voxgate-scripted",
        )
        super().__init__(self._model, config)

    @property
    def script(self) -> list[Step]:
        """The steps still to play."""
        return self._model.script

    @property
    def items(self) -> Items:
        """The conversation."""
        return self.conversation.items

    @property
    def session(self) -> dict[str, Any]:
        """The GA ``session`` object, as ``session.updated`` last told it."""
        return self.config.to_session()

    @property
    def quiet(self) -> bool:
        """Nothing queued, no response running."""
        return self._out.empty() and (self._response is None or self._response.done)

    async def send(self, ev: Event) -> None:
        """One client event; refusals become ``error`` events."""
        self.received.append(copy.deepcopy(ev))
        await super().send(ev)

    def _unsupported(self, type_: str) -> str:
        return f"the scripted engine does not take {type_!r} (it has no audio)"

    # -- what a user does, without audio ---------------------------------------------------

    def speech_started(self) -> None:
        """The user starts speaking: like server VAD, it cancels the response in progress."""
        self._put(
            event("input_audio_buffer.speech_started", audio_start_ms=0, item_id=new_id("item"))
        )
        if self._response is not None and not self._response.done:
            self._response.cancel("turn_detected")

    def speech_stopped(self) -> None:
        """The user stops speaking."""
        self._put(
            event("input_audio_buffer.speech_stopped", audio_end_ms=0, item_id=new_id("item"))
        )
