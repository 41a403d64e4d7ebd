"""``/api/runs``: start a run and stream its events over a WebSocket; status and control by HTTP.

``WS /api/runs/{agent_name}[?session_id=...]``: the client sends ``{"type": "run", "data":
"<task>"}`` (empty: the runner's default task) and gets ``{"type": "started", ...}``, the run's
events, then ``{"type": "done", ...}``; it may send ``{"type": "pause"|"resume"|"cancel"}``
meanwhile. With ``session_id``, the run is narrated into that live voice session.

``runs_router(caller)`` makes the routes; ``caller`` is the app's dependency that says who is
calling (``RunCaller``): it authenticates and refuses, so this module never learns how. A caller
sees and controls their own runs (those they started, or their sessions' tools did); one with
``sees_all`` (an admin) every run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, WebSocket, WebSocketDisconnect

from voxgate.agents.runs.manager import RunManager, UnknownRunner
from voxgate.agents.runs.run import Run
from voxgate.protocol import ProtocolError
from voxgate.wire import WireLimits, loads


@dataclass(frozen=True)
class RunCaller:
    """Who calls ``/api/runs``: the user whose runs they are, or one who sees every run."""

    user_id: str | None = None
    sees_all: bool = True

    def sees(self, run: Run) -> bool:
        """Whether this caller may see and control ``run``."""
        return self.sees_all or (run.owner is not None and run.owner == self.user_id)


CallerDependency = Callable[..., Coroutine[Any, Any, RunCaller]]


def runs_router(caller: CallerDependency) -> APIRouter:
    """The ``/api/runs`` routes, each asking ``caller`` who calls."""
    router = APIRouter()
    calling = Depends(caller)  # a default, not an annotation: these are strings here

    def find(request: Request, run_id: str, who: RunCaller) -> Run:
        run = _manager(request.app).get(run_id)
        if run is None or not who.sees(run):
            raise HTTPException(status_code=404, detail=f"no run {run_id!r}")
        return run

    @router.get("/api/runs")
    async def list_runs(request: Request, who: RunCaller = calling) -> dict[str, Any]:
        """The runners one may start, and the runs kept (latest last)."""
        manager = _manager(request.app)
        return {
            "runners": [
                {"name": r.name, "description": r.description, "default_task": r.default_task}
                for r in manager.runners.values()
            ],
            "runs": [run.to_dict() for run in manager.runs.values() if who.sees(run)],
        }

    @router.get("/api/runs/{run_id}")
    async def run_status(request: Request, run_id: str, who: RunCaller = calling) -> dict[str, Any]:
        """One run's status."""
        return find(request, run_id, who).to_dict()

    @router.post("/api/runs/{run_id}/pause")
    async def pause_run(request: Request, run_id: str, who: RunCaller = calling) -> dict[str, Any]:
        """Hold a running run."""
        run = find(request, run_id, who)
        await run.pause()
        return run.to_dict()

    @router.post("/api/runs/{run_id}/resume")
    async def resume_run(request: Request, run_id: str, who: RunCaller = calling) -> dict[str, Any]:
        """Continue a paused run."""
        run = find(request, run_id, who)
        await run.resume()
        return run.to_dict()

    @router.post("/api/runs/{run_id}/cancel")
    async def cancel_run(request: Request, run_id: str, who: RunCaller = calling) -> dict[str, Any]:
        """Stop a run for good."""
        run = find(request, run_id, who)
        await run.cancel()
        return run.to_dict()

    @router.websocket("/api/runs/{agent_name}")
    async def run_socket(websocket: WebSocket, agent_name: str, who: RunCaller = calling) -> None:
        """Runs of ``agent_name``, one at a time, their events streamed back."""
        await _serve_runs(websocket, agent_name, who)

    return router


def _manager(app: Any) -> RunManager:
    manager: RunManager = app.state.gateway.agents.runs
    return manager


async def _serve_runs(websocket: WebSocket, agent_name: str, who: RunCaller) -> None:
    app = websocket.app
    manager = _manager(app)
    session_id = websocket.query_params.get("session_id")
    await websocket.accept()
    current: Run | None = None
    streaming: asyncio.Task[None] | None = None

    async def stream(run: Run) -> None:
        async for ev in run.follow():
            await websocket.send_json(ev)

    async def error(message: str) -> None:
        await websocket.send_json({"type": "error", "data": {"message": message}})

    try:
        while True:
            received = await websocket.receive()
            if received["type"] == "websocket.disconnect":
                break
            text = received.get("text")
            if text is None:
                await error("send JSON text frames, not binary")
                continue
            try:
                message = loads(text, WireLimits())
            except ProtocolError as exc:  # not JSON, too large or too deeply nested
                await error(str(exc))
                continue
            kind = message.get("type") if isinstance(message, dict) else None
            busy = current is not None and not current.finished
            if kind == "run":
                task = message.get("data") or ""
                if not isinstance(task, str):
                    await error("'data' must be the task, a string")
                elif busy:
                    await error("a run is in progress on this socket; cancel it or wait")
                else:
                    try:
                        current = manager.start(
                            agent_name, task, session_id=session_id, owner=who.user_id
                        )
                    except UnknownRunner as exc:
                        await error(str(exc))
                        continue
                    narrated = _narrate(app, current, session_id)
                    await websocket.send_json(
                        {
                            "type": "started",
                            "data": {**current.to_dict(), "narrated": narrated},
                        }
                    )
                    streaming = asyncio.create_task(stream(current))
            elif kind in ("pause", "resume", "cancel"):
                if current is None or current.finished:
                    await error(f"no run in progress to {kind}")
                else:
                    await getattr(current, kind)()
            else:
                await error(
                    f"unknown message type {kind!r}: send 'run', 'pause', 'resume' or 'cancel'"
                )
    except WebSocketDisconnect:
        pass
    finally:
        if streaming is not None:
            streaming.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await streaming


def _narrate(app: Any, run: Run, session_id: str | None) -> bool:
    """Follow ``run`` in the live voice session ``session_id``, if there is one with agents."""
    if not session_id:
        return False
    session = app.state.gateway.registry.get(session_id)
    runtime = getattr(session, "agent", None)
    narrator = getattr(runtime, "narrator", None)
    if narrator is None:
        return False
    narrator.follow(run)
    return True
