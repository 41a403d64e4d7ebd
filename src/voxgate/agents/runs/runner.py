"""What a background run is made of: a ``Runner`` streams events; ``RunControl`` pauses it.

Run events are small JSON objects, the same on ``WS /api/runs/{agent_name}`` and inside
``voxgate.run.event``: ``{"type": "textmessage", "data": {"source": ..., "content": ...}}``,
``{"type": "toolcallrequest", "data": {"source": ..., "calls": [{"id", "name", "arguments"}]}}``,
``{"type": "toolcallexecution", "data": {"source": ..., "results": [{"call_id", "name",
"content", "is_error"}]}}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

RunEvent = dict[str, Any]


def text_message(source: str, content: str) -> RunEvent:
    """A ``textmessage`` run event."""
    return {"type": "textmessage", "data": {"source": source, "content": content}}


class RunControl:
    """Pause and resume for one run.

    The run stops pulling events while paused, so an async-generator runner waits at its
    next ``yield``; runners that own something that keeps going on its own (a subprocess, a
    team) register hooks with ``on_pause``.
    """

    def __init__(self) -> None:
        self._running = asyncio.Event()
        self._running.set()
        self._hooks: list[tuple[Callable[[], Any], Callable[[], Any]]] = []

    @property
    def paused(self) -> bool:
        """Whether the run is paused."""
        return not self._running.is_set()

    def on_pause(self, pause: Callable[[], Any], resume: Callable[[], Any]) -> None:
        """Call ``pause()`` / ``resume()`` when the run is paused / resumed (may be async)."""
        self._hooks.append((pause, resume))

    async def pause(self) -> None:
        """Hold the run."""
        if not self.paused:
            self._running.clear()
            for pause, _ in self._hooks:
                await _maybe_await(pause())

    async def resume(self) -> None:
        """Let the run go on."""
        if self.paused:
            for _, resume in self._hooks:
                await _maybe_await(resume())
            self._running.set()

    async def checkpoint(self) -> None:
        """Wait here while paused."""
        await self._running.wait()


async def _maybe_await(value: Any) -> None:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        await value


class Runner(Protocol):
    """A kind of background agent: a team, a command-line agent, a Python function."""

    name: str
    """Its name in ``/api/runs/{agent_name}`` and in the voice agent's delegation tool."""
    description: str
    """What it does, for the delegation tool's description."""
    default_task: str
    """The task when a run is started with none."""

    def stream(self, task: str, control: RunControl) -> AsyncIterator[RunEvent]:
        """The run's events until it ends; raising ends it as ``failed``."""
        ...
