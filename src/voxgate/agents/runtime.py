"""The agent side of a session: runs the tools the model calls, switches agents on handoff.

It sees only events, so it works for any engine: it answers each
``response.function_call_arguments.done`` for a tool the current agent owns with a
``conversation.item.create`` (a ``function_call_output``) and then a ``response.create``.
Calls for tools it does not own (a client's) are left to that client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from voxgate.agents.agent import Agent, Handoff
from voxgate.agents.narration import NarrationPolicy, Narrator
from voxgate.agents.runs.manager import RunManager
from voxgate.agents.tool import Tool, ToolContext, ToolError, error_output, output_text
from voxgate.protocol import Event, event, new_id

if TYPE_CHECKING:
    from voxgate.agents.runs.run import Run
    from voxgate.session import Session

log = logging.getLogger(__name__)

CallStatus = Literal["ok", "error", "timeout", "cancelled"]


@dataclass(eq=False)
class Call:
    """One function call the runtime answers."""

    call_id: str
    name: str
    arguments: str
    response_id: str | None
    agent: str
    started: float = field(default_factory=time.monotonic)
    task: asyncio.Task[None] | None = None
    cancellable: bool = False
    output: str | None = None
    status: CallStatus | None = None
    interrupted: bool = False
    """Cancelled by a barge-in: answered, but the model is not asked to speak about it."""

    @property
    def finished(self) -> bool:
        """Whether the call has its output."""
        return self.output is not None


class AgentRuntime:
    """One per session; ``Session`` hands it every engine event (see ``SessionAgent``)."""

    def __init__(
        self,
        session: Session,
        agent: Agent,
        *,
        tool_timeout: float = 30.0,
        runs: RunManager | None = None,
        narration: NarrationPolicy = "final",
    ) -> None:
        self.session = session
        self.agent = agent
        self._starting = agent
        self.tool_timeout = tool_timeout
        self._runs = runs
        self.narrator = Narrator(self, narration)
        self.calls: dict[str, Call] = {}
        self._seen_calls: deque[str] = deque(maxlen=256)
        self._outbox: asyncio.Queue[Event] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._user_speaking = False
        self._want_response = False
        self._response_requested = False
        self._request_event_id: str | None = None
        self._unsent = 0
        self._client_tools: list[dict[str, Any]] = []
        self._restoring_tools = False
        self._closed = False
        self._changed = asyncio.Event()

    # -- SessionAgent ----------------------------------------------------------------------

    def opening_events(self) -> list[Event]:
        """The starting agent's configuration, before anything else reaches the engine."""
        return [{"type": "session.update", "session": self._config(self.agent)}]

    def observe(self, ev: Event) -> None:
        """Follow the conversation; act on function calls, barge-ins and finished responses."""
        type_ = ev["type"]
        if type_ == "response.function_call_arguments.done":
            self._on_call(ev["call_id"], ev["name"], ev.get("arguments", ""), ev.get("response_id"))
        elif type_ == "input_audio_buffer.speech_started":
            self._user_speaking = True
            self._cancel_calls("the user interrupted")
        elif type_ == "input_audio_buffer.speech_stopped":
            self._user_speaking = False
        elif (
            type_ == "conversation.item.input_audio_transcription.completed"
            and not str(ev.get("transcript", "")).strip()
        ) or type_ in (
            "conversation.item.input_audio_transcription.failed",
            "input_audio_buffer.cleared",
        ):
            self.respond_when_idle()  # the user's turn brought no reply: say what waits
        elif type_ == "session.updated":
            self._keep_tools(ev["session"].get("tools") or [])
        elif type_ == "response.created":
            self._response_requested = False
        elif type_ == "response.done":
            response = ev["response"]
            for item in response.get("output") or []:
                if item.get("type") == "function_call" and item.get("call_id"):
                    self._on_call(
                        item["call_id"], item["name"], item.get("arguments", ""), response["id"]
                    )
            if response.get("status") == "cancelled":
                self._cancel_calls("the response was cancelled")
            self._flush()
        elif type_ == "error":
            error = ev.get("error") or {}
            if self._request_event_id and error.get("event_id") == self._request_event_id:
                # our response.create was refused: try again when idle if a reply is busy
                self._response_requested = False
                if error.get("code") == "conversation_already_has_active_response":
                    self._want_response = True
        self._notify()

    async def close(self) -> None:
        """Cancel running tools and stop sending."""
        self._closed = True
        tasks = [c.task for c in self.calls.values() if c.task is not None]
        if self._sender is not None:
            tasks.append(self._sender)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.narrator.detach()

    # -- state -----------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """No call unanswered, nothing left to send or say, and the model is not responding."""
        return (
            not self.calls
            and not self._want_response
            and not self._response_requested
            and self._unsent == 0
            and self.session.active_response_id is None
            and not self.narrator.pending
        )

    async def wait_idle(self) -> None:
        """Until ``idle`` (tests and the test API wait on this; bound it with a timeout)."""
        while not self.idle:
            self._changed.clear()
            await self._changed.wait()

    # -- background runs -------------------------------------------------------------------

    @property
    def run_manager(self) -> RunManager:
        """Where this session's runs live (the server's; else one of its own)."""
        if self._runs is None:
            self._runs = RunManager()
        return self._runs

    def start_run(self, runner: str, task: str) -> Run:
        """Start a background run for this session and narrate it here."""
        manager = self.run_manager
        if runner not in manager.runners:
            for agent in self.agent.graph():
                for tool in agent.all_tools():
                    found = getattr(tool, "runner", None)
                    if found is not None and found.name == runner:
                        manager.add_runner(found)
        run = manager.start(runner, task, session_id=self.session.id)
        self.narrator.follow(run)
        return run

    # -- function calls --------------------------------------------------------------------

    def _on_call(self, call_id: str, name: str, arguments: str, response_id: str | None) -> None:
        if call_id in self._seen_calls:
            return
        tool = next((t for t in self.agent.all_tools() if t.name == name), None)
        if tool is None:
            return  # a client's tool: the client answers it
        self._seen_calls.append(call_id)
        call = Call(call_id, name, arguments, response_id, self.agent.name)
        self.calls[call_id] = call
        self.session.broadcast(
            event(
                "voxgate.tool.started",
                name=name,
                call_id=call_id,
                arguments=arguments,
                agent=call.agent,
            )
        )
        if isinstance(tool, Handoff):
            self._hand_off(call, tool.target)
            return
        call.cancellable = tool.cancel_on_barge_in
        call.task = asyncio.create_task(self._run(call, tool), name=f"tool {name} {call_id}")

    async def _run(self, call: Call, tool: Tool) -> None:
        timeout = tool.timeout if tool.timeout is not None else self.tool_timeout
        limit = asyncio.timeout(timeout)
        try:
            async with limit:
                result = await tool.invoke(call.arguments, ToolContext(call.call_id, self))
            self._finish(call, output_text(result), "ok")
        except TimeoutError as exc:
            if not limit.expired():  # the tool's own timeout (a slow service, say)
                self._finish(
                    call, error_output(f"{call.name} failed: TimeoutError: {exc}"), "error"
                )
            else:
                self._finish(
                    call,
                    error_output(f"{call.name} timed out after {timeout:g} s", status="timeout"),
                    "timeout",
                )
        except asyncio.CancelledError:
            if not call.finished:
                self._finish(call, error_output("cancelled", status="cancelled"), "cancelled")
            raise
        except ToolError as exc:
            self._finish(call, error_output(str(exc)), "error")
        except (Exception, SystemExit) as exc:  # a tool calling exit() must not end the server
            log.warning("tool %s raised", call.name, exc_info=True)
            self._finish(
                call, error_output(f"{call.name} failed: {type(exc).__name__}: {exc}"), "error"
            )

    def _hand_off(self, call: Call, target: Agent) -> None:
        previous, self.agent = self.agent, target
        self._post({"type": "session.update", "session": self._config(target)})
        self.session.broadcast(
            event(
                "voxgate.handoff",
                call_id=call.call_id,
                **{"from": previous.name, "to": target.name},
            )
        )
        self._finish(call, json.dumps({"assistant": target.name}), "ok")

    # -- the session's tools: the agent's and the clients' --------------------------------

    def _config(self, agent: Agent) -> dict[str, Any]:
        config = agent.session_config()
        config["tools"] = [*config["tools"], *self._client_tools]
        return config

    def _keep_tools(self, tools: list[dict[str, Any]]) -> None:
        """Remember a client's tools; put the agent's back if a client's update dropped them.

        Engines that do not report ``tools`` in ``session.updated`` are left alone.
        """
        if not tools:
            return
        agents = [*self._starting.graph(), *self.agent.graph()]
        ours = {t.name for agent in agents for t in agent.all_tools()}
        self._client_tools = [t for t in tools if t.get("name") not in ours]
        present = {t.get("name") for t in tools}
        dropped = any(t.name not in present for t in self.agent.all_tools())
        if dropped and not self._restoring_tools:
            self._restoring_tools = True  # once per change: no loop with an engine that drops
            self._post(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "tools": self._config(self.agent)["tools"]},
                }
            )
        else:
            self._restoring_tools = False

    def _cancel_calls(self, reason: str) -> None:
        for call in list(self.calls.values()):
            if call.cancellable and not call.finished and call.task is not None:
                call.interrupted = True
                self._finish(
                    call, error_output(f"cancelled: {reason}", status="cancelled"), "cancelled"
                )
                call.task.cancel()

    def _finish(self, call: Call, output: str, status: CallStatus) -> None:
        if call.finished:
            return
        call.output, call.status = output, status
        self.session.broadcast(
            event(
                "voxgate.tool.completed",
                name=call.name,
                call_id=call.call_id,
                arguments=call.arguments,
                output=output,
                duration_ms=round((time.monotonic() - call.started) * 1000, 1),
                status=status,
                agent=call.agent,
            )
        )
        self._flush()
        self._notify()

    def _flush(self) -> None:
        """Send finished calls' outputs once their response is over; then maybe respond."""
        for call in list(self.calls.values()):
            if not call.finished or (
                call.response_id is not None and call.response_id == self.session.active_response_id
            ):
                continue
            del self.calls[call.call_id]
            self._post(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "function_call_output",
                        "call_id": call.call_id,
                        "output": call.output,
                    },
                }
            )
            if not call.interrupted:
                self._want_response = True
        self.respond_when_idle()

    def respond_when_idle(self) -> None:
        """Ask for a response if one is wanted and nothing would collide with it."""
        if self.narrator.pending and self._can_respond():
            for item in self.narrator.take():
                self._post({"type": "conversation.item.create", "item": item})
                self._want_response = True
        if self._want_response and self._can_respond():
            self._want_response = False
            self._response_requested = True
            self._request_event_id = new_id("event")
            self._post({"type": "response.create", "event_id": self._request_event_id})

    def _can_respond(self) -> bool:
        return (
            not self._closed
            and self.session.active_response_id is None
            and not self._response_requested
            and not self._user_speaking
            and not any(not c.finished for c in self.calls.values())
        )

    # -- plumbing --------------------------------------------------------------------------

    def _post(self, ev: Event) -> None:
        """Queue a client event for the engine; one task sends them in order."""
        if self._closed:
            return
        if self._outbox is None:
            self._outbox = asyncio.Queue()
            self._sender = asyncio.create_task(self._send_loop(self._outbox))
        self._unsent += 1
        self._outbox.put_nowait(ev)

    async def _send_loop(self, outbox: asyncio.Queue[Event]) -> None:
        while True:
            ev = await outbox.get()
            try:
                await self.session.send(ev)
            except Exception:
                log.exception("session %s: sending %s failed", self.session.id, ev["type"])
            self._unsent -= 1
            self._notify()

    def _notify(self) -> None:
        self._changed.set()
