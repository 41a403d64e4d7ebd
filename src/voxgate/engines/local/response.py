"""One model response of the local engine: LLM → phrases → TTS, as GA server events.

Speech is synthesized phrase by phrase, at most ``LEAD_MS`` ahead of real-time playback, so
the first audio leaves early and a barge-in wastes little work. A response can run gated (its
events held back) while the user's turn is not yet over; the engine opens or drops the gate.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from voxgate.audio import SAMPLE_RATE, duration_ms, resample, trim_silence
from voxgate.components.llm import ChatMessage, Tool, ToolCall, ToolChoice, Usage
from voxgate.components.tts.phrases import PhraseSplitter, ends_sentence
from voxgate.engines.local.models import LocalModels
from voxgate.protocol import Event, event, new_id

log = logging.getLogger(__name__)

LEAD_MS = 1500.0
"""How far synthesis may run ahead of what the client has played."""
DELTA_MS = 100
"""Audio per ``response.output_audio.delta``."""
_DELTA_BYTES = SAMPLE_RATE * 2 * DELTA_MS // 1000
LEAD_IN_MS = 20.0
"""Quiet kept before a phrase's speech."""
FRAGMENT_PAUSE_MS = 40.0
"""Quiet kept after a phrase that stops mid-sentence, so the next one follows on."""
SENTENCE_PAUSE_MS = 250.0
"""Quiet kept at most after a sentence."""


class Gate:
    """Where a response's events go: straight out, held until ``open()``, or dropped."""

    def __init__(self, put: Callable[[Event], None], *, is_open: bool = True) -> None:
        self._put = put
        self._held: list[Event] | None = None if is_open else []
        self._dropped = False
        self.opened_at: float | None = time.monotonic() if is_open else None

    @property
    def is_open(self) -> bool:
        """Whether events go out as they come."""
        return self._held is None

    def emit(self, ev: Event) -> None:
        """Send, hold or drop ``ev``."""
        if self._dropped:
            return
        if self._held is None:
            self._put(ev)
        else:
            self._held.append(ev)

    def open(self) -> None:
        """Release what was held, in order; later events go straight out."""
        held, self._held = self._held or [], None
        self.opened_at = time.monotonic()
        for ev in held:
            self._put(ev)

    def drop(self) -> None:
        """Forget what was held and what will come."""
        self._dropped, self._held = True, []


@dataclass
class _Phrase:
    text: str
    start_ms: float
    end_ms: float


@dataclass
class ResponseRun:
    """Generates one response; ``cancel`` stops it with a ``cancelled`` ``response.done``."""

    models: LocalModels
    messages: Callable[[], Awaitable[list[ChatMessage]]]
    gate: Gate
    audio: bool = True
    max_tokens: int = 96
    temperature: float = 0.2
    previous_item_id: str | None = None
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice = "auto"
    metrics: dict[str, float] = field(default_factory=dict)
    id: str = field(default_factory=lambda: new_id("resp"))
    item_id: str = field(default_factory=lambda: new_id("item"))

    def __post_init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self.status = "in_progress"
        self._cancel_reason: str | None = None
        self._phrases: list[_Phrase] = []
        self._text = ""
        self._sent_ms = 0.0
        self._first_audio_at: float | None = None
        self._usage = Usage()
        self._started_at = time.monotonic()
        self._message_index: int | None = None  # output_index of the message, once opened
        self._calls: list[tuple[int, dict[str, Any]]] = []  # (output_index, function_call item)

    @property
    def done(self) -> bool:
        """Whether the response has ended, however it ended."""
        return self.status != "in_progress"

    def start(self) -> None:
        """Begin generating in a task of its own."""
        self.task = asyncio.create_task(self._run(), name=f"response {self.id}")

    def cancel(self, reason: str) -> None:
        """Stop now; the response ends ``cancelled`` with the spec's ``reason``."""
        if self.task is not None and not self.done:
            self._cancel_reason = reason
            self.task.cancel()

    def heard_ms(self) -> float:
        """Audio the client has played so far, assuming real-time playback from first audio."""
        if self._first_audio_at is None or self.gate.opened_at is None:
            return 0.0
        start = max(self._first_audio_at, self.gate.opened_at)
        return min(self._sent_ms, (time.monotonic() - start) * 1000)

    # -- generation ------------------------------------------------------------------------

    async def _run(self) -> None:
        self._emit("response.created", response=self._response("in_progress"))
        if not self.tools:  # with tools, the first text (not a call) opens the message
            self._open_message()
        try:
            await self._generate()
        except asyncio.CancelledError:
            if self._cancel_reason is None:
                raise
            self._finish("cancelled", reason=self._cancel_reason)
        except Exception as exc:
            log.exception("response %s failed", self.id)
            self._finish("failed", error={"type": "server_error", "message": str(exc)})
        else:
            self._finish("completed")

    async def _generate(self) -> None:
        messages = await self.messages()
        phrases: asyncio.Queue[str | ToolCall | None] = asyncio.Queue()
        thinker = asyncio.create_task(self._think(messages, phrases))
        try:
            while (phrase := await phrases.get()) is not None:
                if isinstance(phrase, ToolCall):
                    self._function_call(phrase)
                else:
                    await self._speak(phrase)
            await thinker  # surfaces an LLM error
        finally:
            thinker.cancel()

    async def _think(
        self, messages: list[ChatMessage], phrases: asyncio.Queue[str | ToolCall | None]
    ) -> None:
        splitter = PhraseSplitter()
        try:
            async for piece in self.models.llm.stream(
                messages,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                usage=self._usage,
                tools=self.tools or None,
                tool_choice=self.tool_choice,
            ):
                self.metrics.setdefault("llm_first_token_ms", self._elapsed_ms())
                if isinstance(piece, ToolCall):
                    phrases.put_nowait(piece)
                    continue
                if not self.audio:
                    self._open_message()
                    self._text += piece
                    self._emit("response.output_text.delta", **self._part_ids(), delta=piece)
                    continue
                for phrase in splitter.feed(piece):
                    phrases.put_nowait(phrase)
            for phrase in splitter.flush():
                phrases.put_nowait(phrase)
        finally:
            phrases.put_nowait(None)

    async def _speak(self, phrase: str) -> None:
        self._open_message()
        await self._pace()
        started = time.monotonic()
        pcm = await asyncio.to_thread(self._synthesize, phrase)
        self.metrics.setdefault("tts_first_audio_ms", (time.monotonic() - started) * 1000)
        text = phrase if not self._text else " " + phrase
        self._text += text
        self._emit("response.output_audio_transcript.delta", **self._part_ids(), delta=text)
        if self._first_audio_at is None:
            self._first_audio_at = time.monotonic()
            self.metrics["first_audio_ms"] = self._elapsed_ms()
        length = duration_ms(pcm)
        self._phrases.append(_Phrase(text, self._sent_ms, self._sent_ms + length))
        self._sent_ms += length
        for offset in range(0, len(pcm), _DELTA_BYTES):
            self._emit(
                "response.output_audio.delta",
                **self._part_ids(),
                delta=pcm[offset : offset + _DELTA_BYTES],
            )

    def _synthesize(self, phrase: str) -> bytes:
        tts = self.models.tts
        with self.models.foreground.hold():
            pcm = b"".join(tts.synthesize(phrase))
        # a voice pads each phrase with quiet: keep a sentence's pause, not a fragment's
        tail_ms = SENTENCE_PAUSE_MS if ends_sentence(phrase) else FRAGMENT_PAUSE_MS
        pcm = trim_silence(pcm, lead_ms=LEAD_IN_MS, tail_ms=tail_ms, sample_rate=tts.sample_rate)
        return resample(pcm, tts.sample_rate, SAMPLE_RATE)

    async def _pace(self) -> None:
        # polls: playback time passes by itself (and not at all while the gate is shut)
        while (ahead := self._sent_ms - self.heard_ms()) > LEAD_MS:  # noqa: ASYNC110
            await asyncio.sleep(min(ahead - LEAD_MS, 200) / 1000)

    # -- ending ----------------------------------------------------------------------------

    def _finish(
        self, status: str, *, reason: str | None = None, error: dict[str, Any] | None = None
    ) -> None:
        self.status = status
        truncated_ms = None
        if status == "cancelled" and self.audio and self._sent_ms > 0:
            truncated_ms = self.heard_ms()
            self._text = self._heard_text(truncated_ms)
        output = list(self._calls)
        if self._message_index is not None:
            output.append((self._message_index, self._close_message(status)))
        details: dict[str, Any] = {"type": status}
        if reason:
            details["reason"] = reason
        if error:
            details["error"] = error
        items = [item for _, item in sorted(output, key=lambda entry: entry[0])]
        self._emit("response.done", response=self._response(status, output=items, details=details))
        if truncated_ms is not None:
            self._emit(
                "conversation.item.truncated",
                item_id=self.item_id,
                content_index=0,
                audio_end_ms=int(truncated_ms),
            )
        self._emit("voxgate.metrics", response_id=self.id, metrics=dict(self.metrics))

    def _close_message(self, status: str) -> dict[str, Any]:
        if self.audio:
            self._emit("response.output_audio.done", **self._part_ids())
            self._emit(
                "response.output_audio_transcript.done", **self._part_ids(), transcript=self._text
            )
        else:
            self._emit("response.output_text.done", **self._part_ids(), text=self._text)
        item = self._item("completed" if status == "completed" else "incomplete", self._text)
        self._emit("response.content_part.done", **self._part_ids(), part=self._part(self._text))
        self._emit(
            "response.output_item.done",
            response_id=self.id,
            output_index=self._message_index,
            item=item,
        )
        self._emit(
            "conversation.item.done",
            previous_item_id=self.previous_item_id,
            item=copy.deepcopy(item),
        )
        return item

    # -- output items ----------------------------------------------------------------------

    def _open_message(self) -> None:
        if self._message_index is not None:
            return
        self._message_index = len(self._calls)
        item = self._item("in_progress", "")
        self._emit(
            "response.output_item.added",
            response_id=self.id,
            output_index=self._message_index,
            item=item,
        )
        self._emit(
            "conversation.item.added",
            previous_item_id=self.previous_item_id,
            item=copy.deepcopy(item),
        )
        self._emit("response.content_part.added", **self._part_ids(), part=self._part(""))

    def _function_call(self, call: ToolCall) -> None:
        """All of a call's events at once, so a cancel never leaves half an item."""
        index = len(self._calls) + (self._message_index is not None)
        item = {
            "id": new_id("item"),
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "call_id": new_id("call"),
            "name": call.name,
            "arguments": "",
        }
        ids = {
            "response_id": self.id,
            "item_id": item["id"],
            "output_index": index,
            "call_id": item["call_id"],
        }
        self._emit("response.output_item.added", response_id=self.id, output_index=index, item=item)
        self._emit(
            "conversation.item.added",
            previous_item_id=self.previous_item_id,
            item=copy.deepcopy(item),
        )
        self._emit("response.function_call_arguments.delta", **ids, delta=call.arguments)
        self._emit(
            "response.function_call_arguments.done",
            **ids,
            name=call.name,
            arguments=call.arguments,
        )
        done = {**item, "status": "completed", "arguments": call.arguments}
        self._emit("response.output_item.done", response_id=self.id, output_index=index, item=done)
        self._emit("conversation.item.done", previous_item_id=None, item=copy.deepcopy(done))
        self._calls.append((index, done))

    def _heard_text(self, heard_ms: float) -> str:
        text = ""
        for phrase in self._phrases:
            if phrase.end_ms <= heard_ms:
                text += phrase.text
            elif phrase.start_ms < heard_ms:
                words = phrase.text.split(" ")
                share = (heard_ms - phrase.start_ms) / (phrase.end_ms - phrase.start_ms)
                text += " ".join(words[: int(len(words) * share)])
        return text.strip()

    # -- event shapes ----------------------------------------------------------------------

    def _emit(self, type_: str, **fields: Any) -> None:
        self.gate.emit(event(type_, **fields))

    def _elapsed_ms(self) -> float:
        return (time.monotonic() - self._started_at) * 1000

    def _part_ids(self) -> dict[str, Any]:
        return {
            "response_id": self.id,
            "item_id": self.item_id,
            "output_index": self._message_index or 0,
            "content_index": 0,
        }

    def _part(self, text: str) -> dict[str, Any]:
        return (
            {"type": "audio", "transcript": text} if self.audio else {"type": "text", "text": text}
        )

    def _item(self, status: str, text: str) -> dict[str, Any]:
        content = (
            {"type": "output_audio", "transcript": text}
            if self.audio
            else {"type": "output_text", "text": text}
        )
        return {
            "id": self.item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": status,
            "content": [content],
        }

    def _response(
        self,
        status: str,
        *,
        output: list[dict[str, Any]] | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        usage = self._usage
        return {
            "id": self.id,
            "object": "realtime.response",
            "status": status,
            "status_details": details,
            "output": output or [],
            "output_modalities": ["audio"] if self.audio else ["text"],
            "usage": {
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "total_tokens": usage.input_tokens + usage.output_tokens,
            }
            if status != "in_progress"
            else None,
        }
