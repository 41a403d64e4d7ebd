"""The agent side of a session: runs the tools the model calls, switches agents on handoff.

It sees only events, so it works for any engine: it answers each
``response.function_call_arguments.done`` for a tool the current agent owns with a
``conversation.item.create`` (a ``function_call_output``) and then a ``response.create``.
Calls for tools it does not own (a client's) are left to that client. The parts: tool
execution (``calls``), when to ask for a response (``scheduling``), the agent in charge and
the session's tools (``handoffs``), narration of background runs (``narration``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

from voxgate.agents.agent import Agent, Handoff
from voxgate.agents.calls import Call, ToolCalls
from voxgate.agents.handoffs import AgentSwitch
from voxgate.agents.narration import NarrationPolicy, Narrator
from voxgate.agents.runs.manager import RunManager, SessionRuns
from voxgate.agents.scheduling import ResponseScheduler
from voxgate.agents.tool import ToolContext
from voxgate.protocol import Event, event

if TYPE_CHECKING:
    from voxgate.session import Session

log = logging.getLogger(__name__)


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
        self._session = session
        self._outbox = Outbox(session)
        self._switch = AgentSwitch(agent)
        self._scheduler = ResponseScheduler()
        self._calls = ToolCalls(session.broadcast, self._send_answers, timeout=tool_timeout)
        self.narrator = Narrator(session.broadcast, self._respond, narration)
        self.run_manager = runs if runs is not None else RunManager()
        """Where this session's runs live (the server's; else one of its own)."""
        self._runs = SessionRuns(self.run_manager, session.id, self.narrator.follow)

    @property
    def agent(self) -> Agent:
        """The agent in charge now."""
        return self._switch.agent

    @property
    def calls(self) -> dict[str, Call]:
        """Calls not yet answered in the conversation, by ``call_id``."""
        return self._calls.calls

    @property
    def idle(self) -> bool:
        """No call unanswered, nothing left to send or say, and the model is not responding."""
        return (
            not self._calls.calls
            and self._scheduler.settled
            and not self._outbox.pending
            and not self.narrator.pending
        )

    # -- SessionAgent ----------------------------------------------------------------------

    def opening_events(self) -> list[Event]:
        """The starting agent's configuration, before anything else reaches the engine."""
        return [self._switch.opening()]

    def observe(self, ev: Event) -> None:
        """Follow the conversation; act on function calls, barge-ins and finished responses."""
        self._scheduler.observe(ev)
        type_ = ev["type"]
        if type_ == "response.function_call_arguments.done":
            self._on_call(ev["call_id"], ev["name"], ev.get("arguments", ""), ev.get("response_id"))
        elif type_ == "input_audio_buffer.speech_started":
            self._calls.cancel("the user interrupted")
        elif (
            type_ == "conversation.item.input_audio_transcription.completed"
            and not str(ev.get("transcript", "")).strip()
        ) or type_ in (
            "conversation.item.input_audio_transcription.failed",
            "input_audio_buffer.cleared",
        ):
            self._respond()  # the user's turn brought no reply: say what waits
        elif type_ in ("session.created", "session.updated"):
            if type_ == "session.updated":
                restore = self._switch.session_updated(ev["session"].get("tools") or [])
                if restore is not None:
                    self._outbox.post(restore)
            prompt = self._switch.transcription(ev["session"])
            if prompt is not None:
                self._outbox.post(prompt)
        elif type_ == "response.done":
            response = ev["response"]
            for item in response.get("output") or []:
                if item.get("type") == "function_call" and item.get("call_id"):
                    self._on_call(
                        item["call_id"], item["name"], item.get("arguments", ""), response["id"]
                    )
            if response.get("status") == "cancelled":
                self._calls.cancel("the response was cancelled")
            self._send_answers()

    async def close(self) -> None:
        """Cancel running tools and stop sending."""
        self._scheduler.close()
        self._outbox.close()
        await self._calls.close()
        await self._outbox.closed()
        self.narrator.detach()

    # -- function calls and handoffs --------------------------------------------------------

    def _on_call(self, call_id: str, name: str, arguments: str, response_id: str | None) -> None:
        tool = self.agent.tool(name)
        if tool is None:
            return  # a client's tool: the client answers it
        call = self._calls.open(call_id, name, arguments, response_id, self.agent.name)
        if call is None:
            return
        if isinstance(tool, Handoff):
            self._hand_off(call, tool.target)
            return
        context = ToolContext(
            call_id=call_id,
            session_id=self._session.id,
            agent=self.agent,
            runs=self._runs,
            _broadcast=self._session.broadcast,
        )
        self._calls.run(call, tool, context)

    def _hand_off(self, call: Call, target: Agent) -> None:
        previous = self.agent
        self._outbox.post(self._switch.hand_off(target))
        self._session.broadcast(
            event(
                "voxgate.handoff",
                call_id=call.call_id,
                **{"from": previous.name, "to": target.name},
            )
        )
        self._calls.finish(call, json.dumps({"assistant": target.name}), "ok")

    # -- responses --------------------------------------------------------------------------

    def _send_answers(self) -> None:
        """Send finished calls' outputs once their response is over; then maybe respond."""
        for call in self._calls.answered(self._scheduler.response_id):
            self._outbox.post({"type": "conversation.item.create", "item": call.item()})
            if not call.interrupted:
                self._scheduler.owe()
        self._respond()

    def _respond(self) -> None:
        """Say what is queued and ask for a response, if owed and nothing would collide."""
        if not self._scheduler.may_respond or self._calls.running:
            return
        for item in self.narrator.take():
            self._outbox.post({"type": "conversation.item.create", "item": item})
            self._scheduler.owe()
        request = self._scheduler.request()
        if request is not None:
            self._outbox.post(request)


class Outbox:
    """Client events for the engine, sent in order by one task (``observe`` cannot await)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None
        self.pending = 0
        """Events posted and not yet sent."""
        self._closed = False

    def post(self, ev: Event) -> None:
        """Queue ``ev``; dropped once closed."""
        if self._closed:
            return
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_loop())
        self.pending += 1
        self._queue.put_nowait(ev)

    def close(self) -> None:
        """Send nothing more."""
        self._closed = True
        if self._sender is not None:
            self._sender.cancel()

    async def closed(self) -> None:
        """Until the sender has stopped."""
        if self._sender is not None:
            await asyncio.gather(self._sender, return_exceptions=True)

    async def _send_loop(self) -> None:
        while True:
            ev = await self._queue.get()
            try:
                await self._session.send(ev)
            except Exception:
                log.exception("session %s: sending %s failed", self._session.id, ev["type"])
            self.pending -= 1
