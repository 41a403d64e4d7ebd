"""The embedded offline engine: Silero VAD → Whisper → LLM → Piper behind GA events.

Latency comes from overlapping the turn's end with its work: when the user falls silent the
engine already transcribes and starts the reply, holding its events back; if the silence lasts
``silence_duration_ms`` the turn commits and the held events go out at once, and if the user
speaks again the speculative work is dropped unseen.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from voxgate.audio import SAMPLE_RATE, Resampler
from voxgate.components.llm import ChatMessage, Tool, ToolChoice
from voxgate.engines import dispatch
from voxgate.engines.local.config import SessionConfig, check_tool_choice, check_tools
from voxgate.engines.local.models import LocalModels
from voxgate.engines.local.response import Gate, ResponseRun
from voxgate.engines.local.turn_detection import ServerVAD, TurnEvent
from voxgate.protocol import Event, ProtocolError, error_event, event, new_id

log = logging.getLogger(__name__)

MAX_BUFFER_MS = 5 * 60 * 1000
"""Longest uncommitted input audio a session may hold (manual commit mode)."""
MIN_COMMIT_MS = 100
_TEMPLATE_TOKENS = 8  # what a chat template adds around each message, about


def _item_text(item: dict[str, Any]) -> str:
    """What a conversation item says: its text or transcript, a call, or a call's output."""
    if item.get("type") == "function_call":
        return f"{item.get('name', '')}({item.get('arguments') or ''})"
    if item.get("type") == "function_call_output":
        return str(item.get("output") or "")
    return " ".join(
        str(part.get("text") or part.get("transcript") or "") for part in item.get("content", [])
    ).strip()


def _starts_turn(item: dict[str, Any]) -> bool:
    return item.get("type") == "message" and item.get("role") == "user"


@dataclass
class _Turn:
    """One user utterance: its audio, its transcript (maybe still coming), maybe a reply."""

    item_id: str
    audio: bytes
    transcript: asyncio.Task[tuple[str, float]]
    started_at: float = field(default_factory=time.monotonic)
    reply: ResponseRun | None = None
    prepare: asyncio.Task[None] | None = None

    def drop(self) -> None:
        self.transcript.cancel()
        if self.prepare is not None:
            self.prepare.cancel()
        if self.reply is not None:
            self.reply.gate.drop()
            self.reply.cancel("turn_detected")


class LocalEngine:
    """One conversation on the shared local models."""

    def __init__(self, models: LocalModels, config: SessionConfig) -> None:
        self._models = models
        self.config = config
        self._out: asyncio.Queue[Event | None] = asyncio.Queue()
        self._items: list[dict[str, Any]] = []
        # soxr's low-quality filter delays by ~20 ms less than its default, and speech
        # recognition and VAD are as accurate on it (measured); the delay is on every turn's end
        self._resampler = Resampler(SAMPLE_RATE, models.stt.sample_rate, quality="LQ")
        self._rate = models.stt.sample_rate
        self._vad_detector = models.new_vad()
        self._frame_bytes = self._vad_detector.frame_samples * 2
        self._vad: ServerVAD | None = None
        self._pending = bytearray()  # resampled audio not yet a whole VAD frame
        self._buffer = bytearray()  # the uncommitted input audio buffer, at the STT rate
        self._end_samples = 0  # input samples (STT rate) received so far
        self._next_item_id = new_id("item")
        self._last_unseen: str | None = None  # the newest item truncation hides from the model
        self._turn: _Turn | None = None  # speculative: silence has begun, not yet committed
        self._response: ResponseRun | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._transcribing: set[asyncio.Task[Any]] = set()  # committed turns awaiting transcripts
        self._closed = False
        self._configure_vad()
        self._put(event("session.created", session=config.to_session()))

    # -- Engine protocol -------------------------------------------------------------------

    async def send(self, ev: Event) -> None:
        """Handle one client event; refusals become ``error`` events."""
        dispatch(
            self, ev, self._put, f"event type {ev['type']!r} is not supported by the local engine"
        )

    async def events(self) -> AsyncIterator[Event]:
        """Server events until ``close()``."""
        while (ev := await self._out.get()) is not None:
            yield ev

    async def close(self) -> None:
        """Cancel all work; ``events()`` ends."""
        if self._closed:
            return
        self._closed = True
        if self._turn is not None:
            self._turn.drop()
        if self._response is not None and self._response.task is not None:
            self._response.task.cancel()
        for task in list(self._tasks):
            task.cancel()
        self._out.put_nowait(None)

    # -- client events ---------------------------------------------------------------------

    def _on_session_update(self, ev: Event) -> None:
        self.config.update(ev["session"])
        self._configure_vad()
        self._put(event("session.updated", session=self.config.to_session()))
        self._spawn(self._prepare_model())

    async def _prepare_model(self) -> None:
        """Ready the model for this session's instructions and tools before the user speaks."""
        try:
            await self._models.llm.prepare(self.config.instructions, self.config.tools)
        except Exception:
            log.exception("preparing the language model failed")

    def _on_input_audio_buffer_append(self, ev: Event) -> None:
        pcm: bytes = ev["audio"]
        if len(pcm) % 2:
            raise ProtocolError(
                "audio must be whole PCM16 samples (an even number of bytes)",
                code="invalid_audio",
                param="audio",
            )
        self._append(self._resampler.process(pcm))

    def _on_input_audio_buffer_commit(self, ev: Event) -> None:
        self._commit(respond=self.config.create_response_on_commit)

    def _on_input_audio_buffer_clear(self, ev: Event) -> None:
        if self._turn is not None:
            self._turn.drop()
            self._turn = None
        self._buffer.clear()
        if self._vad is not None:
            self._vad.reset()
        self._put(event("input_audio_buffer.cleared"))

    def _on_conversation_item_create(self, ev: Event) -> None:
        item = copy.deepcopy(ev["item"])
        if item.get("type") not in ("message", "function_call", "function_call_output"):
            raise ProtocolError(
                f"item type {item.get('type')!r} is not supported; send a 'message', "
                "'function_call' or 'function_call_output'",
                code="unsupported_item_type",
                param="item.type",
            )
        if item["type"] == "function_call_output":
            self._check_call_output(item)
        elif item["type"] == "function_call":
            item.setdefault("call_id", new_id("call"))
            item.setdefault("arguments", "{}")
            if not item.get("name"):
                raise ProtocolError(
                    "a function_call item needs the function's 'name'",
                    code="invalid_value",
                    param="item.name",
                )
        item.setdefault("id", new_id("item"))
        item.update(object="realtime.item", status="completed")
        if any(i["id"] == item["id"] for i in self._items):
            raise ProtocolError(
                f"item {item['id']!r} already exists", code="item_exists", param="item.id"
            )
        previous = ev.get("previous_item_id")
        if previous is not None and previous != "root":
            self._index(previous, param="previous_item_id")
        self._put(event("conversation.item.added", previous_item_id=None, item=item))
        self._put(event("conversation.item.done", previous_item_id=None, item=copy.deepcopy(item)))

    def _check_call_output(self, item: dict[str, Any]) -> None:
        call_id = item.get("call_id")
        if not any(
            i.get("type") == "function_call" and i.get("call_id") == call_id for i in self._items
        ):
            raise ProtocolError(
                f"no function_call with call_id {call_id!r} in the conversation",
                code="invalid_value",
                param="item.call_id",
            )
        if not isinstance(item.get("output"), str):
            raise ProtocolError(
                "a function_call_output item needs its 'output' as a string",
                code="invalid_value",
                param="item.output",
            )

    def _on_conversation_item_truncate(self, ev: Event) -> None:
        item = self._items[self._index(ev["item_id"], param="item_id")]
        if item.get("role") != "assistant":
            raise ProtocolError(
                "only assistant audio can be truncated", code="invalid_item", param="item_id"
            )
        self._put(
            event(
                "conversation.item.truncated",
                item_id=item["id"],
                content_index=ev["content_index"],
                audio_end_ms=ev["audio_end_ms"],
            )
        )

    def _on_conversation_item_delete(self, ev: Event) -> None:
        del self._items[self._index(ev["item_id"], param="item_id")]
        self._put(event("conversation.item.deleted", item_id=ev["item_id"]))

    def _on_conversation_item_retrieve(self, ev: Event) -> None:
        item = self._items[self._index(ev["item_id"], param="item_id")]
        self._put(event("conversation.item.retrieved", item=copy.deepcopy(item)))

    def _on_response_create(self, ev: Event) -> None:
        if self._response is not None and not self._response.done:
            raise ProtocolError(
                "the conversation already has an active response; cancel it first",
                code="conversation_already_has_active_response",
            )
        params = ev.get("response") or {}
        tools = self.config.tools
        if "tools" in params:
            tools = check_tools(params["tools"] or [], param="response.tools")
        choice = self.config.tool_choice
        if (asked := params.get("tool_choice")) is not None:
            choice = check_tool_choice(asked, tools, param="response.tool_choice")
        self._respond(
            Gate(self._put),
            instructions=params.get("instructions"),
            modalities=params.get("output_modalities"),
            tools=(tools, choice),
        )

    def _on_response_cancel(self, ev: Event) -> None:
        if self._response is None or self._response.done:
            raise ProtocolError(
                "there is no active response to cancel", code="response_cancel_not_active"
            )
        self._response.cancel("client_cancelled")

    def _on_output_audio_buffer_clear(self, ev: Event) -> None:
        if self._response is not None and not self._response.done:
            self._response.cancel("client_cancelled")
        self._put(
            event("output_audio_buffer.cleared", response_id=getattr(self._response, "id", ""))
        )

    # -- input audio and turns -------------------------------------------------------------

    def _configure_vad(self) -> None:
        td = self.config.turn_detection
        if td is None:
            self._vad = None
            return
        settings = (td.threshold, td.silence_duration_ms, td.prefix_padding_ms)
        if self._vad is None or settings != (
            self._vad.threshold,
            self._vad.silence_duration_ms,
            self._vad.prefix_padding_ms,
        ):
            self._vad = ServerVAD(*settings)
            self._vad_detector.reset()

    def _ms(self, samples: int) -> float:
        return samples * 1000 / self._rate

    def _append(self, pcm: bytes) -> None:
        self._buffer += pcm
        self._end_samples += len(pcm) // 2
        if self._vad is None:
            if self._ms(len(self._buffer) // 2) > MAX_BUFFER_MS:
                del self._buffer[: len(pcm)]
                self._put(
                    error_event(
                        "the input audio buffer is full (5 minutes); commit or clear it",
                        code="input_audio_buffer_full",
                    )
                )
            return
        self._pending += pcm
        frame_bytes = self._frame_bytes
        pending_samples = len(self._pending) // 2
        frame_end = self._end_samples - pending_samples
        while len(self._pending) >= frame_bytes:
            frame = bytes(self._pending[:frame_bytes])
            del self._pending[:frame_bytes]
            frame_start, frame_end = frame_end, frame_end + frame_bytes // 2
            change = self._vad.process(
                self._vad_detector.speech_probability(frame),
                self._ms(frame_start),
                self._ms(frame_end),
            )
            if change is not None:
                self._on_turn_event(change)
        if self._vad is not None and not self._vad.speaking:
            keep = int(self._vad.prefix_padding_ms * self._rate / 1000) * 2 + len(self._pending)
            if len(self._buffer) > keep:
                del self._buffer[: len(self._buffer) - keep]

    def _buffer_start_ms(self) -> float:
        return self._ms(self._end_samples - len(self._buffer) // 2)

    def _on_turn_event(self, change: TurnEvent) -> None:
        vad = self._vad
        assert vad is not None
        td = self.config.turn_detection
        assert td is not None
        if change is TurnEvent.SPEECH_STARTED:
            start_ms = max(vad.speech_start_ms - vad.prefix_padding_ms, self._buffer_start_ms())
            del self._buffer[: int((start_ms - self._buffer_start_ms()) * self._rate / 1000) * 2]
            self._put(
                event(
                    "input_audio_buffer.speech_started",
                    audio_start_ms=int(vad.speech_start_ms),
                    item_id=self._next_item_id,
                )
            )
            if td.interrupt_response and self._response is not None and not self._response.done:
                self._response.cancel("turn_detected")
        elif change is TurnEvent.PAUSED:
            self._turn = self._start_turn(bytes(self._buffer))
            if td.create_response:
                self._turn.prepare = self._spawn(self._prepare_reply(self._turn))
        elif change is TurnEvent.RESUMED:
            if self._turn is not None:
                self._turn.drop()
                self._turn = None
        elif change is TurnEvent.SPEECH_STOPPED:
            self._put(
                event(
                    "input_audio_buffer.speech_stopped",
                    audio_end_ms=int(self._ms(self._end_samples)),
                    item_id=self._next_item_id,
                )
            )
            self._commit(respond=td.create_response)

    def _start_turn(self, audio: bytes) -> _Turn:
        transcript = self._spawn(self._transcribe(audio))
        return _Turn(item_id=self._next_item_id, audio=audio, transcript=transcript)

    async def _transcribe(self, audio: bytes) -> tuple[str, float]:
        """The transcript, and how long it took (ms)."""
        started = time.monotonic()
        text = await asyncio.to_thread(self._transcribe_now, audio)
        return text, (time.monotonic() - started) * 1000

    def _transcribe_now(self, audio: bytes) -> str:
        with self._models.foreground.hold():
            return self._models.stt.transcribe(audio)

    async def _prepare_reply(self, turn: _Turn) -> None:
        """Speculatively transcribe and start the reply, gated until the turn commits."""
        try:
            text, _ = await turn.transcript
        except Exception:
            return  # _finish_turn reports it
        if text:
            turn.reply = self._new_response(Gate(self._put, is_open=False), user_text=text)
            turn.reply.start()

    def _commit(self, *, respond: bool) -> None:
        if self._ms(len(self._buffer) // 2) < MIN_COMMIT_MS:
            self._drop_turn()
            raise ProtocolError(
                f"the input audio buffer holds under {MIN_COMMIT_MS} ms of audio; "
                "nothing to commit",
                code="input_audio_buffer_commit_empty",
            )
        turn = self._turn or self._start_turn(bytes(self._buffer))
        self._turn = None
        self._buffer.clear()
        if self._vad is not None:
            self._vad.reset()
        self._next_item_id = new_id("item")
        previous = self._last_id()
        self._put(
            event("input_audio_buffer.committed", item_id=turn.item_id, previous_item_id=previous)
        )
        item = {
            "id": turn.item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        self._put(event("conversation.item.added", previous_item_id=previous, item=item))
        finishing = self._spawn(self._finish_turn(turn, respond=respond))
        self._transcribing.add(finishing)
        finishing.add_done_callback(self._transcribing.discard)

    def _drop_turn(self) -> None:
        if self._turn is not None:
            self._turn.drop()
            self._turn = None

    async def _finish_turn(self, turn: _Turn, *, respond: bool) -> None:
        committed_at = time.monotonic()
        try:
            text, stt_ms = await turn.transcript
        except Exception as exc:
            log.exception("transcription failed")
            self._put(
                event(
                    "conversation.item.input_audio_transcription.failed",
                    item_id=turn.item_id,
                    content_index=0,
                    error={
                        "type": "server_error",
                        "code": "transcription_failed",
                        "message": str(exc),
                    },
                )
            )
            return
        stt_wait_ms = (time.monotonic() - committed_at) * 1000
        item = next((it for it in self._items if it["id"] == turn.item_id), None)
        if item is not None:  # the client may have deleted it meanwhile
            item = copy.deepcopy(item)
            item["content"][0]["transcript"] = text
        self._put(
            event(
                "conversation.item.input_audio_transcription.completed",
                item_id=turn.item_id,
                content_index=0,
                transcript=text,
                usage={"type": "duration", "seconds": round(len(turn.audio) / 2 / self._rate, 3)},
            )
        )
        if item is not None:
            self._put(event("conversation.item.done", previous_item_id=None, item=item))
        if not respond or not text:
            return
        if turn.prepare is not None:
            await asyncio.shield(turn.prepare)
        reply = turn.reply
        if reply is None or reply.done:
            reply = self._new_response(Gate(self._put), user_text=None)
            reply.start()
        reply.metrics.update(stt_wait_ms=stt_wait_ms, stt_ms=stt_ms)
        self._go_live(reply)
        reply.gate.open()

    # -- responses -------------------------------------------------------------------------

    def _respond(
        self,
        gate: Gate,
        *,
        instructions: str | None = None,
        modalities: list[str] | None = None,
        tools: tuple[list[Tool], ToolChoice] | None = None,
    ) -> None:
        reply = self._new_response(
            gate, user_text=None, instructions=instructions, modalities=modalities, tools=tools
        )
        self._go_live(reply)
        reply.start()

    def _go_live(self, reply: ResponseRun) -> None:
        if self._response is not None and self._response is not reply and not self._response.done:
            self._response.cancel("turn_detected")
        self._response = reply

    def _new_response(
        self,
        gate: Gate,
        *,
        user_text: str | None,
        instructions: str | None = None,
        modalities: list[str] | None = None,
        tools: tuple[list[Tool], ToolChoice] | None = None,
    ) -> ResponseRun:
        tool_list, tool_choice = tools or (self.config.tools, self.config.tool_choice)
        if user_text is not None:  # speculative: the user's item is not in the conversation yet
            snapshot = self._chat_messages(instructions, user_text)

            async def messages() -> list[ChatMessage]:
                return snapshot
        else:

            async def messages() -> list[ChatMessage]:
                # a manual commit's transcript may still be on its way
                await asyncio.gather(*self._transcribing, return_exceptions=True)
                return self._chat_messages(instructions)

        return ResponseRun(
            models=self._models,
            messages=messages,
            gate=gate,
            audio="audio" in (modalities or self.config.output_modalities),
            max_tokens=self.config.max_output_tokens,
            temperature=self.config.temperature,
            previous_item_id=self._last_id() if user_text is None else None,
            tools=tool_list if tool_choice != "none" else [],
            tool_choice=tool_choice,
        )

    def _chat_messages(
        self, instructions: str | None, user_text: str | None = None
    ) -> list[ChatMessage]:
        """The conversation as chat messages (truncated), and ``user_text`` as the last."""
        system = instructions or self.config.instructions
        messages: list[ChatMessage] = [{"role": "system", "content": system}]
        pending = [{"role": "user", "content": user_text}] if user_text is not None else []
        for item in self._seen_items(system, pending):
            if item.get("type") == "function_call":
                call = {
                    "id": item["call_id"],
                    "type": "function",
                    "function": {"name": item["name"], "arguments": item.get("arguments") or "{}"},
                }
                last = messages[-1]
                if last["role"] == "assistant" and "tool_calls" in last:
                    last["tool_calls"].append(call)
                else:
                    messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
            elif item.get("type") == "function_call_output":
                messages.append(
                    {"role": "tool", "tool_call_id": item["call_id"], "content": item["output"]}
                )
            elif item.get("type") == "message" and (text := _item_text(item)):
                messages.append({"role": item["role"], "content": text})
        return messages + pending

    def _seen_items(self, system: str, pending: list[ChatMessage]) -> list[dict[str, Any]]:
        """The items the model sees under the session's ``truncation``.

        Past the limit, whole turns (each from a user message on) are dropped from the start
        down to ``retention_ratio`` of it; the new start is kept, so the prompt's beginning,
        and the model's cache of it, stays the same until the limit is reached again.
        """
        items, truncation = self._items, self.config.truncation
        if truncation.type == "disabled":
            return items
        llm = self._models.llm
        start = next((i + 1 for i, it in enumerate(items) if it["id"] == self._last_unseen), 0)
        room = llm.context_window - self.config.max_output_tokens - llm.count_tokens(system)
        limit = min(truncation.limit or self.config.history_tokens, room - _TEMPLATE_TOKENS)
        sizes = [_TEMPLATE_TOKENS + llm.count_tokens(_item_text(it)) for it in items[start:]]
        total = sum(sizes) + sum(_TEMPLATE_TOKENS + llm.count_tokens(m["content"]) for m in pending)
        if total <= limit:
            return items[start:]
        target, first = truncation.retention_ratio * limit, start
        for index in range(first + 1, len(items)):
            total -= sizes[index - 1 - first]  # items[index - 1] is dropped
            if _starts_turn(items[index]):
                start = index
                if total <= target:
                    break
        else:
            if pending:  # the new user message starts the last turn: drop all before it
                start = len(items)
        self._last_unseen = items[start - 1]["id"] if start else None
        return items[start:]

    # -- plumbing --------------------------------------------------------------------------

    def _put(self, ev: Event) -> None:
        """Every server event passes here: the conversation is what clients were told."""
        if self._closed:
            return
        if ev["type"] == "conversation.item.added":
            item = copy.deepcopy(ev["item"])
            self._items.append(item)
            ev["previous_item_id"] = self._items[-2]["id"] if len(self._items) > 1 else None
        elif ev["type"] == "conversation.item.done":
            index = next(
                (i for i, it in enumerate(self._items) if it["id"] == ev["item"]["id"]), None
            )
            if index is not None:
                self._items[index] = copy.deepcopy(ev["item"])
                ev["previous_item_id"] = self._items[index - 1]["id"] if index else None
        self._out.put_nowait(ev)

    def _index(self, item_id: str, *, param: str) -> int:
        for index, item in enumerate(self._items):
            if item["id"] == item_id:
                return index
        raise ProtocolError(f"no item with id {item_id!r}", code="item_not_found", param=param)

    def _last_id(self) -> str | None:
        return self._items[-1]["id"] if self._items else None

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
