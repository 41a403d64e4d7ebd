"""One background run: its task, its status, its events so far, and who follows them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

from voxgate.affinity import new_session_id
from voxgate.agents.runs.runner import RunControl, RunEvent, Runner

log = logging.getLogger(__name__)

RunStatus = Literal["running", "paused", "completed", "failed", "cancelled"]
FINISHED: tuple[RunStatus, ...] = ("completed", "failed", "cancelled")
Listener = Callable[["Run", RunEvent], None]


class Run:
    """A runner working on a task, in the background.

    Every event is kept (``events``) and handed to listeners; the last is always
    ``{"type": "done", "data": {"status": ..., ...}}``. Status changes are events too:
    ``{"type": "status", "data": {"status": "paused"}}``.
    """

    def __init__(self, runner: Runner, task: str, *, session_id: str | None = None) -> None:
        self.id = new_session_id("run")
        self.runner = runner
        self.task = task or runner.default_task
        self.session_id = session_id
        self.status: RunStatus = "running"
        self.error: str | None = None
        self.events: list[RunEvent] = []
        self.created_at = time.time()
        self.finished_at: float | None = None
        self.control = RunControl()
        self._listeners: list[Listener] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def agent(self) -> str:
        """The runner's name."""
        return self.runner.name

    @property
    def finished(self) -> bool:
        """Completed, failed or cancelled."""
        return self.status in FINISHED

    @property
    def last_message(self) -> str | None:
        """The latest ``textmessage``'s content."""
        for ev in reversed(self.events):
            if ev["type"] == "textmessage":
                return str(ev["data"].get("content", ""))
        return None

    def messages(self) -> list[str]:
        """Every ``textmessage``'s content, in order."""
        return [
            str(ev["data"].get("content", "")) for ev in self.events if ev["type"] == "textmessage"
        ]

    def start(self) -> None:
        """Begin working (the manager calls this)."""
        self._task = asyncio.create_task(self._work(), name=f"run {self.id}")

    def listen(self, listener: Listener) -> None:
        """Call ``listener(run, event)`` for each event from now on."""
        self._listeners.append(listener)

    def unlisten(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    async def follow(self) -> AsyncIterator[RunEvent]:
        """Every event from the first, then live ones, until ``done``."""
        index = 0
        while True:
            while index < len(self.events):
                ev = self.events[index]
                index += 1
                yield ev
                if ev["type"] == "done":
                    return
            self._changed.clear()
            await self._changed.wait()

    async def pause(self) -> None:
        """Hold the run; a no-op when it is not running."""
        if self.status == "running":
            await self.control.pause()
            self._set_status("paused")

    async def resume(self) -> None:
        """Continue a paused run."""
        if self.status == "paused":
            await self.control.resume()
            self._set_status("running")

    async def cancel(self) -> None:
        """Stop the run for good; a no-op when it has finished."""
        if self._task is not None and not self.finished:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait(self) -> RunStatus:
        """Until the run has finished; its status."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)
        return self.status

    def to_dict(self) -> dict[str, Any]:
        """What ``GET /api/runs/{run_id}`` returns."""
        return {
            "id": self.id,
            "agent": self.agent,
            "task": self.task,
            "status": self.status,
            "error": self.error,
            "session_id": self.session_id,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "events": len(self.events),
            "last_message": self.last_message,
        }

    async def _work(self) -> None:
        status: RunStatus = "completed"
        try:
            events = self.runner.stream(self.task, self.control)
            try:
                async for ev in events:
                    await self.control.checkpoint()
                    self._emit(ev)
            finally:  # a cancelled run's generator cleans up now (stops its subprocess)
                aclose = getattr(events, "aclose", None)
                if aclose is not None:
                    await aclose()
        except asyncio.CancelledError:
            status = "cancelled"
        except Exception as exc:
            log.warning("run %s (%s) failed", self.id, self.agent, exc_info=True)
            status, self.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            self.status = status
            self.finished_at = time.time()
            self._emit(
                {
                    "type": "done",
                    "data": {
                        "run_id": self.id,
                        "status": status,
                        "error": self.error,
                        "final": self.last_message,
                    },
                }
            )

    def _set_status(self, status: RunStatus) -> None:
        self.status = status
        self._emit({"type": "status", "data": {"run_id": self.id, "status": status}})

    def _emit(self, ev: RunEvent) -> None:
        self.events.append(ev)
        self._changed.set()
        for listener in list(self._listeners):
            try:
                listener(self, ev)
            except Exception:
                log.exception("run %s: a listener failed", self.id)
