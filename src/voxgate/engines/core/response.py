"""The one writer of the GA response sequence: every engine that makes its own replies uses it.

A response is ``response.created``, then output items: function calls (each whole at once,
so a cancel never leaves half a call) and at most one assistant message (its text or audio
transcript and audio streamed as deltas), then ``response.done`` with the output, ``usage``
and ``status_details``. A cancelled spoken reply is cut to what was heard: its transcript
says only that, and ``conversation.item.truncated`` follows ``response.done``.

The response and item objects are the ``openai`` SDK's own types (``openai.types.realtime``),
built here and nowhere else (``response_object``, ``message_item``, ``function_call_item``,
also for engines that only pass a reply on); audio deltas carry raw PCM16 bytes and cost no
more than a slice.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from openai.types.realtime import (
    RealtimeConversationItemAssistantMessage,
    RealtimeConversationItemFunctionCall,
    RealtimeResponse,
    RealtimeResponseStatus,
    RealtimeResponseUsage,
)
from pydantic import BaseModel

from voxgate.audio import SAMPLE_RATE
from voxgate.components.llm import Usage
from voxgate.protocol import Event, event, new_id

DELTA_MS = 100
"""Audio per ``response.output_audio.delta``."""
_DELTA_BYTES = SAMPLE_RATE * 2 * DELTA_MS // 1000

Item = dict[str, Any]


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_none=True)


def message_item(item_id: str, status: str, text: str, *, audio: bool) -> Item:
    """An assistant message: its text, or the transcript of its audio."""
    part = (
        {"type": "output_audio", "transcript": text}
        if audio
        else {"type": "output_text", "text": text}
    )
    return _dump(
        RealtimeConversationItemAssistantMessage.model_validate(
            {
                "id": item_id,
                "object": "realtime.item",
                "type": "message",
                "role": "assistant",
                "status": status,
                "content": [part],
            }
        )
    )


def function_call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> Item:
    """A function call the model makes."""
    return _dump(
        RealtimeConversationItemFunctionCall.model_validate(
            {
                "id": item_id,
                "object": "realtime.item",
                "type": "function_call",
                "status": status,
                "call_id": call_id,
                "name": name,
                "arguments": arguments,
            }
        )
    )


def response_object(
    response_id: str,
    status: str,
    *,
    audio: bool | None,
    output: list[Item] | None = None,
    details: dict[str, Any] | None = None,
    usage: Usage | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A ``realtime.response`` (its modalities left out when ``audio`` is None: not known).

    ``metadata``: the ``response.create``'s own, given back (how a client knows its response).
    """
    fields: dict[str, Any] = {"id": response_id, "object": "realtime.response", "status": status}
    if audio is not None:
        fields["output_modalities"] = ["audio"] if audio else ["text"]
    if metadata is not None:
        fields["metadata"] = metadata
    response = RealtimeResponse.model_validate(fields)
    # items and details as given: validated where they are made, not copied through models again
    dumped = _dump(response)
    dumped["output"] = output or []
    if details is not None:
        dumped["status_details"] = _dump(RealtimeResponseStatus.model_validate(details))
    if usage is not None:
        dumped["usage"] = _dump(
            RealtimeResponseUsage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                total_tokens=usage.input_tokens + usage.output_tokens,
            )
        )
    return dumped


class ResponseWriter:
    """Emits one response's server events, in the spec's order, through ``emit``.

    An out-of-band response (``conversation=False``, the spec's ``conversation: "none"``) adds
    nothing to the conversation: its items go out as ``response.output_item.*`` only.
    """

    def __init__(
        self,
        emit: Callable[[Event], None],
        *,
        audio: bool,
        conversation: bool = True,
        metadata: dict[str, str] | None = None,
    ) -> None:
        self._emit_event = emit
        self.audio = audio
        """Whether the message is spoken (audio and its transcript) rather than text."""
        self.conversation = conversation
        """Whether the output joins the conversation (False: an out-of-band response)."""
        self.metadata = metadata
        self.id = new_id("resp")
        self.item_id = new_id("item")
        """The assistant message's id."""
        self.text = ""
        """The message's text (or audio transcript) so far."""
        self._message_index: int | None = None  # output_index of the message, once opened
        self._calls: list[tuple[int, Item]] = []  # (output_index, function_call item)
        self._message: Item | None = None  # the message's item, once done

    def created(self) -> None:
        """``response.created``: the response begins."""
        self._emit(
            "response.created",
            response=response_object(
                self.id, "in_progress", audio=self.audio, metadata=self.metadata
            ),
        )

    # -- the message -----------------------------------------------------------------------

    def open_message(self) -> None:
        """The assistant message's item and content part begin (once)."""
        if self._message_index is not None:
            return
        self._message_index = len(self._calls)
        item = message_item(self.item_id, "in_progress", "", audio=self.audio)
        where = {"response_id": self.id, "output_index": self._message_index}
        self._emit("response.output_item.added", **where, item=item)
        self._emit("conversation.item.added", previous_item_id=None, item=copy.deepcopy(item))
        self._emit("response.content_part.added", **self._part_ids(), part=self._part(""))

    def add_text(self, delta: str) -> None:
        """More of the message: its text, or the transcript of the audio that follows."""
        self.open_message()
        self.text += delta
        kind = "output_audio_transcript" if self.audio else "output_text"
        self._emit(f"response.{kind}.delta", **self._part_ids(), delta=delta)

    def add_audio(self, pcm: bytes) -> None:
        """More of the message's audio (PCM16, 24 kHz), in deltas of ``DELTA_MS``."""
        self.open_message()
        ids = self._part_ids()
        for offset in range(0, len(pcm), _DELTA_BYTES):
            self._emit(
                "response.output_audio.delta", **ids, delta=pcm[offset : offset + _DELTA_BYTES]
            )

    # -- function calls --------------------------------------------------------------------

    def function_call(self, name: str, arguments: str, call_id: str | None = None) -> Item:
        """A whole function call item, all of its events at once; returns the item."""
        index = len(self._calls) + (self._message_index is not None)
        item = function_call_item(
            new_id("item"), call_id or new_id("call"), name, "", "in_progress"
        )
        where = {"response_id": self.id, "output_index": index}
        ids = {**where, "item_id": item["id"], "call_id": item["call_id"]}
        self._emit("response.output_item.added", **where, item=item)
        self._emit("conversation.item.added", previous_item_id=None, item=copy.deepcopy(item))
        self._emit("response.function_call_arguments.delta", **ids, delta=arguments)
        self._emit("response.function_call_arguments.done", **ids, name=name, arguments=arguments)
        done = {**item, "status": "completed", "arguments": arguments}
        self._emit("response.output_item.done", **where, item=done)
        self._emit("conversation.item.done", previous_item_id=None, item=copy.deepcopy(done))
        self._calls.append((index, done))
        return done

    # -- the end ---------------------------------------------------------------------------

    def finish(
        self,
        status: str,
        *,
        reason: str | None = None,
        error: dict[str, Any] | None = None,
        usage: Usage | None = None,
        heard: tuple[str, float] | None = None,
    ) -> None:
        """Close the message and end the response with ``status``.

        ``completed``, ``cancelled`` with a ``reason``, ``failed`` with an ``error``, or
        ``incomplete``.
        ``heard``: the words and milliseconds of a cancelled spoken reply the client heard;
        the message keeps those words and its audio is truncated there.
        """
        if heard is not None:
            self.text = heard[0]
        self.close_message(status)
        output = list(self._calls)
        if self._message is not None:
            output.append((self._message_index or 0, self._message))
        details: dict[str, Any] = {"type": status}
        if reason:
            details["reason"] = reason
        if error:
            details["error"] = error
        items = [item for _, item in sorted(output, key=lambda entry: entry[0])]
        self._emit(
            "response.done",
            response=response_object(
                self.id,
                status,
                audio=self.audio,
                output=items,
                details=details,
                usage=usage or Usage(),
                metadata=self.metadata,
            ),
        )
        if heard is not None:
            self._emit(
                "conversation.item.truncated",
                item_id=self.item_id,
                content_index=0,
                audio_end_ms=int(heard[1]),
            )

    def close_message(self, status: str = "completed") -> None:
        """The message is complete (or, for another ``status``, ends incomplete); once."""
        if self._message_index is None or self._message is not None:
            return
        if self.audio:
            self._emit("response.output_audio.done", **self._part_ids())
            self._emit(
                "response.output_audio_transcript.done", **self._part_ids(), transcript=self.text
            )
        else:
            self._emit("response.output_text.done", **self._part_ids(), text=self.text)
        done = "completed" if status == "completed" else "incomplete"
        item = message_item(self.item_id, done, self.text, audio=self.audio)
        self._emit("response.content_part.done", **self._part_ids(), part=self._part(self.text))
        self._emit(
            "response.output_item.done",
            response_id=self.id,
            output_index=self._message_index,
            item=item,
        )
        self._emit("conversation.item.done", previous_item_id=None, item=copy.deepcopy(item))
        self._message = item

    # -- shapes ----------------------------------------------------------------------------

    def _emit(self, type_: str, **fields: Any) -> None:
        if not self.conversation and type_.startswith("conversation.item."):
            return
        self._emit_event(event(type_, **fields))

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
