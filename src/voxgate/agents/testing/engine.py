"""A scripted engine: no audio, no model; each response does what the test scripted.

It speaks the same GA events as a real engine (text output), so the agent runtime, the
session and any client cannot tell it from one.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from voxgate.engines import dispatch
from voxgate.protocol import Event, ProtocolError, error_event, event, new_id

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


class ScriptedEngine:
    """An ``Engine`` whose responses follow ``script``, one step per ``response.create``."""

    def __init__(self, script: Iterable[Step] = ()) -> None:
        self.script: list[Step] = list(script)
        self.items: Items = []
        self.session: dict[str, Any] = {
            "type": "realtime",
            "object": "realtime.session",
            "id": new_id("sess"),
            "model": "voxgate-scripted",
            "output_modalities": ["text"],
            "instructions": "",
            "tools": [],
            "tool_choice": "auto",
            "audio": {"input": {"turn_detection": None}, "output": {"voice": "scripted"}},
        }
        self.received: list[Event] = []
        """Every client event, in order (tests assert on what the runtime sent)."""
        self._out: asyncio.Queue[Event | None] = asyncio.Queue()
        self._response: asyncio.Task[None] | None = None
        self._response_id: str | None = None
        self._output: Items = []
        self._put(event("session.created", session=copy.deepcopy(self.session)))

    @property
    def quiet(self) -> bool:
        """Nothing queued, no response running."""
        return self._out.empty() and self._response_id is None

    # -- Engine protocol -------------------------------------------------------------------

    async def send(self, ev: Event) -> None:
        """One client event; refusals become ``error`` events."""
        self.received.append(copy.deepcopy(ev))
        dispatch(
            self,
            ev,
            self._put,
            f"the scripted engine does not take {ev['type']!r} (it has no audio)",
        )

    async def events(self) -> AsyncIterator[Event]:
        """Server events until ``close()``."""
        while (ev := await self._out.get()) is not None:
            yield ev

    async def close(self) -> None:
        """End ``events()``."""
        if self._response is not None:
            self._response.cancel()
        self._out.put_nowait(None)

    # -- what a user does, without audio ---------------------------------------------------

    def speech_started(self) -> None:
        """The user starts speaking: like server VAD, it cancels the response in progress."""
        self._put(
            event("input_audio_buffer.speech_started", audio_start_ms=0, item_id=new_id("item"))
        )
        self._cancel("turn_detected")

    def speech_stopped(self) -> None:
        """The user stops speaking."""
        self._put(
            event("input_audio_buffer.speech_stopped", audio_end_ms=0, item_id=new_id("item"))
        )

    # -- client events ---------------------------------------------------------------------

    def _on_session_update(self, ev: Event) -> None:
        update = ev["session"]
        for key in ("instructions", "tools", "tool_choice", "output_modalities"):
            if key in update:
                self.session[key] = copy.deepcopy(update[key])
        voice = ((update.get("audio") or {}).get("output") or {}).get("voice")
        if voice is not None:
            self.session["audio"]["output"]["voice"] = voice
        self._put(event("session.updated", session=copy.deepcopy(self.session)))

    def _on_conversation_item_create(self, ev: Event) -> None:
        item = copy.deepcopy(ev["item"])
        if item.get("type") == "function_call_output" and not any(
            i.get("type") == "function_call" and i.get("call_id") == item.get("call_id")
            for i in self.items
        ):
            raise ProtocolError(
                f"no function_call with call_id {item.get('call_id')!r} in the conversation",
                code="invalid_value",
                param="item.call_id",
            )
        item.setdefault("id", new_id("item"))
        item.update(object="realtime.item", status="completed")
        self._add(item)

    def _on_conversation_item_delete(self, ev: Event) -> None:
        before = len(self.items)
        self.items = [i for i in self.items if i["id"] != ev["item_id"]]
        if len(self.items) == before:
            raise ProtocolError(
                f"no item with id {ev['item_id']!r}", code="item_not_found", param="item_id"
            )
        self._put(event("conversation.item.deleted", item_id=ev["item_id"]))

    def _on_response_create(self, ev: Event) -> None:
        if self._response_id is not None:
            raise ProtocolError(
                "the conversation already has an active response; cancel it first",
                code="conversation_already_has_active_response",
            )
        self._response_id = response_id = new_id("resp")
        self._output = []
        self._put(event("response.created", response=_response(response_id, "in_progress", [])))
        self._response = asyncio.create_task(self._respond(response_id, self._output))

    def _on_response_cancel(self, ev: Event) -> None:
        if self._response_id is None:
            raise ProtocolError(
                "there is no active response to cancel", code="response_cancel_not_active"
            )
        self._cancel("client_cancelled")

    # -- responses -------------------------------------------------------------------------

    async def _respond(self, response_id: str, output: Items) -> None:
        if not self.script:
            self._finish(
                response_id,
                "failed",
                output,
                {"type": "failed", "error": {"type": "server_error", "code": "script_exhausted"}},
            )
            self._put(
                error_event(
                    "the scripted engine ran out of script: add a step for this response",
                    code="script_exhausted",
                    type_="server_error",
                )
            )
            return
        step = self.script.pop(0)
        try:
            reply = step(copy.deepcopy(self.items)) if callable(step) else step
        except Exception as exc:
            self._finish(
                response_id,
                "failed",
                output,
                {"type": "failed", "error": {"type": "server_error", "code": "script_error"}},
            )
            self._put(
                error_event(
                    f"a script step raised {type(exc).__name__}: {exc}",
                    code="script_error",
                    type_="server_error",
                )
            )
            return
        for fc in reply.calls:
            output.append(self._function_call(response_id, len(output), fc))
        if reply.text is not None:
            output.append(self._message(response_id, len(output), reply.text))
        if reply.hold:
            await asyncio.Event().wait()  # until cancelled
        self._finish(response_id, "completed", output, None)

    def _function_call(self, response_id: str, index: int, fc: FunctionCall) -> dict[str, Any]:
        item = {
            "id": new_id("item"),
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "call_id": fc.call_id,
            "name": fc.name,
            "arguments": "",
        }
        where = {"response_id": response_id, "output_index": index}
        self._put(event("response.output_item.added", item=copy.deepcopy(item), **where))
        self._add(item, done=False)
        arguments = fc.arguments_json
        ids = {"item_id": item["id"], "call_id": fc.call_id, **where}
        self._put(event("response.function_call_arguments.delta", delta=arguments, **ids))
        self._put(
            event("response.function_call_arguments.done", name=fc.name, arguments=arguments, **ids)
        )
        item.update(status="completed", arguments=arguments)
        self._put(event("response.output_item.done", item=copy.deepcopy(item), **where))
        self._done(item)
        return item

    def _message(self, response_id: str, index: int, text: str) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": new_id("item"),
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        where = {"response_id": response_id, "output_index": index}
        self._put(event("response.output_item.added", item=copy.deepcopy(item), **where))
        self._add(item, done=False)
        part = {"item_id": item["id"], "content_index": 0, **where}
        self._put(event("response.content_part.added", part={"type": "text", "text": ""}, **part))
        self._put(event("response.output_text.delta", delta=text, **part))
        self._put(event("response.output_text.done", text=text, **part))
        self._put(event("response.content_part.done", part={"type": "text", "text": text}, **part))
        item.update(status="completed", content=[{"type": "output_text", "text": text}])
        self._put(event("response.output_item.done", item=copy.deepcopy(item), **where))
        self._done(item)
        return item

    def _finish(
        self, response_id: str, status: str, output: Items, details: dict[str, Any] | None
    ) -> None:
        if self._response_id != response_id:
            return
        self._response_id = None
        self._put(event("response.done", response=_response(response_id, status, output, details)))

    def _cancel(self, reason: str) -> None:
        response_id, task = self._response_id, self._response
        if response_id is None or task is None:
            return
        task.cancel()
        self._finish(
            response_id, "cancelled", self._output, {"type": "cancelled", "reason": reason}
        )

    # -- conversation ----------------------------------------------------------------------

    def _add(self, item: dict[str, Any], *, done: bool = True) -> None:
        previous = self.items[-1]["id"] if self.items else None
        self.items.append(item)
        self._put(
            event("conversation.item.added", previous_item_id=previous, item=copy.deepcopy(item))
        )
        if done:
            self._done(item)

    def _done(self, item: dict[str, Any]) -> None:
        self._put(event("conversation.item.done", previous_item_id=None, item=copy.deepcopy(item)))

    def _put(self, ev: Event) -> None:
        self._out.put_nowait(ev)


def _response(
    response_id: str, status: str, output: Items, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "realtime.response",
        "status": status,
        "status_details": details,
        "output": copy.deepcopy(output),
        "output_modalities": ["text"],
        "usage": None
        if status == "in_progress"
        else {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0},
    }
