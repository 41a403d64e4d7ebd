"""Tool execution: each function call runs once and gets exactly one output, whatever happens.

A tool that raises, times out, gets bad arguments, returns something JSON cannot carry,
calls ``exit()`` or is cancelled by a barge-in still answers, with an error output the model
can read. Participants see ``voxgate.tool.started`` and ``voxgate.tool.completed``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from voxgate.agents.tool import Tool, ToolContext, ToolError, error_output, output_text
from voxgate.protocol import Event, event

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

    def item(self) -> Event:
        """The ``function_call_output`` item that answers the call."""
        return {"type": "function_call_output", "call_id": self.call_id, "output": self.output}


class ToolCalls:
    """The calls of one session, from the model's call to the output that answers it.

    ``on_finished`` runs after each call got its output (the runtime then sends what it can).
    """

    def __init__(
        self,
        broadcast: Callable[[Event], None],
        on_finished: Callable[[], None],
        *,
        timeout: float = 30.0,
    ) -> None:
        self._broadcast = broadcast
        self._on_finished = on_finished
        self.timeout = timeout
        self.calls: dict[str, Call] = {}
        """Calls not yet answered in the conversation, by ``call_id``."""
        self._seen: deque[str] = deque(maxlen=256)

    @property
    def running(self) -> bool:
        """Whether a call still waits for its output."""
        return any(not c.finished for c in self.calls.values())

    def open(
        self, call_id: str, name: str, arguments: str, response_id: str | None, agent: str
    ) -> Call | None:
        """A new call (``voxgate.tool.started``); None if this call was seen already.

        The model's call comes twice (``response.function_call_arguments.done`` and in
        ``response.done``); it runs once.
        """
        if call_id in self._seen:
            return None
        self._seen.append(call_id)
        call = Call(call_id, name, arguments, response_id, agent)
        self.calls[call_id] = call
        self._broadcast(
            event(
                "voxgate.tool.started", name=name, call_id=call_id, arguments=arguments, agent=agent
            )
        )
        return call

    def run(self, call: Call, tool: Tool, context: ToolContext) -> None:
        """Run ``tool`` for ``call`` in a task of its own."""
        call.cancellable = tool.cancel_on_barge_in
        call.task = asyncio.create_task(
            self._run(call, tool, context), name=f"tool {call.name} {call.call_id}"
        )

    def finish(self, call: Call, output: str, status: CallStatus) -> None:
        """Give ``call`` its output (``voxgate.tool.completed``); later outputs are ignored."""
        if call.finished:
            return
        call.output, call.status = output, status
        self._broadcast(
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
        self._on_finished()

    def cancel(self, reason: str) -> None:
        """Cancel the running calls of tools marked ``cancel_on_barge_in``; they still answer."""
        for call in list(self.calls.values()):
            if call.cancellable and not call.finished and call.task is not None:
                call.interrupted = True
                self.finish(
                    call, error_output(f"cancelled: {reason}", status="cancelled"), "cancelled"
                )
                call.task.cancel()

    def answered(self, running_response_id: str | None) -> list[Call]:
        """Finished calls whose response is over, taken out: their outputs may go now."""
        ready = [
            c
            for c in self.calls.values()
            if c.finished and (c.response_id is None or c.response_id != running_response_id)
        ]
        for call in ready:
            del self.calls[call.call_id]
        return ready

    async def close(self) -> None:
        """Cancel every running call."""
        tasks = [c.task for c in self.calls.values() if c.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, call: Call, tool: Tool, context: ToolContext) -> None:
        timeout = tool.timeout if tool.timeout is not None else self.timeout
        limit = asyncio.timeout(timeout)
        try:
            async with limit:
                result = await tool.invoke(call.arguments, context)
            self.finish(call, output_text(result), "ok")
        except TimeoutError as exc:
            if not limit.expired():  # the tool's own timeout (a slow service, say)
                self.finish(call, error_output(f"{call.name} failed: TimeoutError: {exc}"), "error")
            else:
                message = f"{call.name} timed out after {timeout:g} s"
                self.finish(call, error_output(message, status="timeout"), "timeout")
        except asyncio.CancelledError:
            if not call.finished:
                self.finish(call, error_output("cancelled", status="cancelled"), "cancelled")
            raise
        except ToolError as exc:
            self.finish(call, error_output(str(exc), spoken=exc.spoken), "error")
        except (Exception, SystemExit) as exc:  # a tool calling exit() must not end the server
            log.warning("tool %s raised", call.name, exc_info=True)
            self.finish(
                call, error_output(f"{call.name} failed: {type(exc).__name__}: {exc}"), "error"
            )
