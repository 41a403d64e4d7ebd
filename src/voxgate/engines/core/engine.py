"""An engine that owns its conversation: the client events every such engine handles alike.

Items (create, delete, retrieve, truncate), responses (create, cancel: one active at a time)
and the output audio buffer are handled here, against the ``Conversation`` and with replies a
language model makes (``ResponseRun``). An engine built on it adds its input: the local
engine audio and turns, the scripted test engine nothing but a scripted model.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from voxgate.components.llm import ChatMessage, LanguageModel, Tool, ToolChoice
from voxgate.engines import dispatch
from voxgate.engines.core import checks
from voxgate.engines.core.chat import chat_messages, unseen_image
from voxgate.engines.core.config import SessionConfig, check_tool_choice, check_tools
from voxgate.engines.core.conversation import Conversation
from voxgate.engines.core.playback import Playback
from voxgate.engines.core.run import ResponseRun, Speak
from voxgate.protocol import Event, ProtocolError, event

log = logging.getLogger(__name__)

IMAGE_REPLY = (
    "I can't see images, but I've kept it in our conversation: "
    "tell me what it shows and I can help."
)
"""The answer to a turn with an image, from an engine whose model reads text only."""


class ConversationEngine:
    """The ``Engine`` protocol over a conversation it keeps and replies ``llm`` makes.

    Hooks for what an engine adds: ``_unsupported`` (the refusal of an event it lacks),
    ``_session_updated``, ``_messages`` (what the model reads) and ``_voice`` (how a reply
    is spoken; None: replies are text).
    """

    report_metrics = False
    """Whether each response's timings go out as ``voxgate.metrics``."""
    response_cost_usd: float | None = None
    """What a reply costs, reported with its timings (0: models in this process)."""
    response_type: type[ResponseRun] = ResponseRun
    """What generates a response."""
    sees_images = False
    """Whether the model is asked about a turn with an image; else ``IMAGE_REPLY`` answers it
    (the image stays in the conversation; chat messages never carry its bytes)."""

    def __init__(self, llm: LanguageModel, config: SessionConfig) -> None:
        self.llm = llm
        self.config = config
        config.cap_output_tokens(llm.context_window)
        self.conversation = Conversation()
        self._out: asyncio.Queue[Event | None] = asyncio.Queue()
        self._response: ResponseRun | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._put(event("session.created", session=config.to_session()))

    # -- Engine protocol -------------------------------------------------------------------

    async def send(self, ev: Event) -> None:
        """Handle one client event; refusals become ``error`` events."""
        dispatch(self, ev, self._put, self._unsupported(ev["type"]))

    async def events(self) -> AsyncIterator[Event]:
        """Server events until ``close()``."""
        while (ev := await self._out.get()) is not None:
            yield ev

    async def close(self) -> None:
        """Cancel all work; ``events()`` ends."""
        if self._closed:
            return
        self._closed = True
        if self._response is not None and self._response.task is not None:
            self._response.task.cancel()
        for task in list(self._tasks):
            task.cancel()
        self._out.put_nowait(None)

    # -- hooks -----------------------------------------------------------------------------

    def _unsupported(self, type_: str) -> str:
        return f"event type {type_!r} is not supported by this engine"

    def _session_updated(self) -> None:
        """The session's settings changed."""

    async def _messages(self, instructions: str | None) -> list[ChatMessage]:
        """What the model reads for a reply: the instructions and the conversation."""
        return chat_messages(instructions or self.config.instructions, self.conversation.items)

    def _voice(self) -> Speak | None:
        return None

    # -- client events ---------------------------------------------------------------------

    def _on_session_update(self, ev: Event) -> None:
        self.config.update(ev["session"])
        self._put(event("session.updated", session=self.config.to_session()))
        self._session_updated()

    def _on_conversation_item_create(self, ev: Event) -> None:
        item = self.conversation.check_create(ev)
        previous = ev.get("previous_item_id")
        self._put(event("conversation.item.added", previous_item_id=previous, item=item))
        self._put(event("conversation.item.done", previous_item_id=None, item=copy.deepcopy(item)))

    def _on_conversation_item_truncate(self, ev: Event) -> None:
        item = self.conversation.check_truncate(ev)
        self._put(
            event(
                "conversation.item.truncated",
                item_id=item["id"],
                content_index=ev["content_index"],
                audio_end_ms=ev["audio_end_ms"],
            )
        )

    def _on_conversation_item_delete(self, ev: Event) -> None:
        self.conversation.get(ev["item_id"])
        self._put(event("conversation.item.deleted", item_id=ev["item_id"]))

    def _on_conversation_item_retrieve(self, ev: Event) -> None:
        item = self.conversation.get(ev["item_id"])
        self._put(event("conversation.item.retrieved", item=copy.deepcopy(item)))

    def _on_response_create(self, ev: Event) -> None:
        params = ev.get("response") or {}
        out_of_band = params.get("conversation") == "none"
        items = self._input_items(params)
        if not out_of_band and self._response is not None and not self._response.done:
            raise ProtocolError(
                "the conversation already has an active response; cancel it first",
                code="conversation_already_has_active_response",
            )
        tools = self.config.tools
        if "tools" in params:
            tools = check_tools(params["tools"] or [], param="response.tools")
        choice = self.config.tool_choice
        if (asked := params.get("tool_choice")) is not None:
            choice = check_tool_choice(asked, tools, param="response.tool_choice")
        reply = self._new_response(
            self._put,
            messages=self._input_messages(items, params),
            items=items,
            instructions=params.get("instructions"),
            modalities=self._response_modalities(params),
            tools=(tools, choice),
            max_tokens=self._response_max_tokens(params),
            temperature=self._response_temperature(params),
            out_of_band=out_of_band,
            metadata=params.get("metadata"),
        )
        if out_of_band:  # beside the conversation's own response: neither cancels the other
            reply.start()
            assert reply.task is not None
            self._tasks.add(reply.task)
            reply.task.add_done_callback(self._tasks.discard)
            return
        self._go_live(reply)
        reply.start()

    def _input_items(self, params: Event) -> list[dict[str, Any]] | None:
        """A response's own context (``response.input``), or None: the conversation.

        Its items are new items or ``item_reference``s to the conversation's (checked now).
        """
        given = params.get("input")
        if given is None:
            return None
        items: list[dict[str, Any]] = []
        for index, item in enumerate(given):
            if item.get("type") == "item_reference":
                items.append(
                    self.conversation.get(item.get("id"), param=f"response.input[{index}].id")
                )
            else:
                items.append(item)
        return items

    def _input_messages(
        self, items: list[dict[str, Any]] | None, params: Event
    ) -> Callable[[], Awaitable[list[ChatMessage]]] | None:
        """What the model reads of a response's own ``items`` (None: the conversation)."""
        if items is None:
            return None
        system = params.get("instructions") or self.config.instructions

        async def messages() -> list[ChatMessage]:
            return chat_messages(system, items)

        return messages

    def _response_modalities(self, params: Event) -> list[str] | None:
        """The response's own output modalities and voice, checked (the voice as the session's)."""
        output = (params.get("audio") or {}).get("output") or {}
        checks.audio_format(output.get("format"), param="response.audio.output.format")
        if (voice := output.get("voice")) is not None:
            checks.voice(voice, self.config.voices, param="response.audio.output.voice")
        if (value := params.get("output_modalities")) is not None:
            return checks.modalities(value, param="response.output_modalities")
        return None

    def _response_max_tokens(self, params: Event) -> int | None:
        if (value := params.get("max_output_tokens")) is None:
            return None
        cap = self.config.output_tokens_cap
        return checks.max_output_tokens(value, cap, param="response.max_output_tokens")

    def _response_temperature(self, params: Event) -> float | None:
        if (value := params.get("temperature")) is None:
            return None
        return checks.temperature(value, param="response.temperature")

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

    # -- responses -------------------------------------------------------------------------

    def _new_response(
        self,
        emit: Callable[[Event], None],
        *,
        messages: Callable[[], Awaitable[list[ChatMessage]]] | None = None,
        items: list[dict[str, Any]] | None = None,
        instructions: str | None = None,
        modalities: list[str] | None = None,
        tools: tuple[list[Tool], ToolChoice] | None = None,
        playback: Playback | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        out_of_band: bool = False,
        metadata: dict[str, str] | None = None,
    ) -> ResponseRun:
        """A response, not started, whose events go to ``emit``.

        The model reads ``messages`` (by default: the instructions and the conversation as
        they are when the response starts), made of ``items`` (by default: the conversation's),
        unless they end on an image it cannot see. An ``out_of_band`` response adds nothing to
        the conversation and reports no metrics.
        """
        tool_list, tool_choice = tools or (self.config.tools, self.config.tool_choice)
        audio = "audio" in (modalities or self.config.output_modalities)
        read = self.conversation.items if items is None else items
        blind = not self.sees_images and unseen_image(read)
        return self.response_type(
            llm=self.llm,
            messages=messages or (lambda: self._messages(instructions)),
            emit=emit,
            speak=self._voice() if audio else None,
            speed=self.config.speed,
            playback=playback or Playback(),
            max_tokens=max_tokens or self.config.max_output_tokens,
            temperature=self.config.temperature if temperature is None else temperature,
            tools=tool_list if tool_choice != "none" else [],
            tool_choice=tool_choice,
            report_metrics=self.report_metrics and not out_of_band,
            cost_usd=self.response_cost_usd,
            conversation=not out_of_band,
            metadata=metadata,
            reply_text=IMAGE_REPLY if blind else None,
        )

    def _go_live(self, reply: ResponseRun) -> None:
        """``reply`` is the active response; one still running before it is cancelled."""
        if self._response is not None and self._response is not reply and not self._response.done:
            self._response.cancel("turn_detected")
        self._response = reply

    # -- plumbing --------------------------------------------------------------------------

    def _put(self, ev: Event) -> None:
        """Every server event passes here: the conversation is what clients were told."""
        if self._closed:
            return
        type_ = ev["type"]
        if type_ in ("conversation.item.added", "conversation.item.done"):
            item_id = ev["item"]["id"]
            # a done item the client deleted meanwhile stays deleted
            if type_ == "conversation.item.added" or self.conversation.index(item_id) is not None:
                self.conversation.observe(ev)
                ev["previous_item_id"] = self.conversation.previous_id(item_id)
        elif type_ in (
            "conversation.item.deleted",
            "conversation.item.input_audio_transcription.completed",
        ):
            self.conversation.observe(ev)
        elif type_ == "response.done" and self._said_in_conversation(ev["response"]):
            self._spawn(self._prefill())
        self._out.put_nowait(ev)

    def _said_in_conversation(self, response: dict[str, Any]) -> bool:
        """Whether a response ended in words of the conversation (no call, not out of band)."""
        output = response.get("output") or []
        return (
            response.get("status") == "completed"
            and all(item.get("type") == "message" for item in output)
            and any(self.conversation.index(item.get("id")) is not None for item in output)
        )

    async def _prefill(self) -> None:
        """A reply is said: the model readies the next turn while the user listens."""
        try:
            await self.llm.prefill(await self._messages(None))
        except Exception:
            log.exception("readying the language model for the next turn failed")

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
