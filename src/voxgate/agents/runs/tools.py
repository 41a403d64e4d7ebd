"""The voice agent's side of delegation: start a run, ask how it goes, pause, resume, stop it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from voxgate.agents.runs.run import Run
from voxgate.agents.runs.runner import Runner
from voxgate.agents.tool import Tool, ToolContext, ToolError, function_tool


@dataclass(eq=False)
class DelegationTool(Tool):
    """Starts a background run of ``runner`` and returns at once with its run id."""

    runner: Runner = field(default=None, kw_only=True)  # type: ignore[assignment]


def delegate(
    runner: Runner, *, name: str | None = None, description: str | None = None
) -> DelegationTool:
    """A tool handing work to ``runner`` in the background (``delegate_to_<runner>``).

    An agent with one also gets ``run_status``, ``pause_run``, ``resume_run`` and
    ``cancel_run``, so the user can ask how it is going, or say "stop that".
    """

    async def start(context: ToolContext, task: str = "") -> dict[str, Any]:
        run = context.runs.start(runner, task)
        return {
            "run_id": run.id,
            "status": run.status,
            "task": run.task,
            "note": "Started in the background; tell the user it is under way. "
            "Its progress will be reported as it comes.",
        }

    base = function_tool(start)
    summary = runner.description or f"hands the work to {runner.name}"
    return DelegationTool(
        name=name or f"delegate_to_{runner.name}",
        description=description
        or f"Start a background task with {runner.name} ({summary}); returns at once.",
        parameters={
            "type": "object",
            "properties": {
                "task": {
                    "type": "string",
                    "description": "What to do, in the user's words; empty: "
                    + (runner.default_task or "the default task"),
                }
            },
            "additionalProperties": False,
        },
        fn=start,
        arguments_model=base.arguments_model,
        context_parameter=base.context_parameter,
        runner=runner,
    )


def _target(context: ToolContext, run_id: str) -> Run:
    runs = context.runs
    if run_id:
        run = runs.get(run_id)
        if run is None:
            raise ToolError(f"there is no run {run_id!r}")
        return run
    run = runs.latest(active=True) or runs.latest()
    if run is None:
        raise ToolError("no background task has been started in this conversation")
    return run


def _report(run: Run) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "agent": run.agent,
        "task": run.task,
        "status": run.status,
        "messages": len(run.messages()),
        "latest_message": run.last_message,
        "error": run.error,
    }


@cache
def run_control_tools() -> list[Tool]:
    """``run_status``, ``pause_run``, ``resume_run``, ``cancel_run``."""

    async def run_status(context: ToolContext, run_id: str = "") -> dict[str, Any]:
        """Report how the background task is going: its status and latest message.

        Use it when the user asks how it is going.

        Args:
            context: The calling session (given by the runtime, not by the model).
            run_id: Which run; empty for the latest one of this conversation.

        """
        return _report(_target(context, run_id))

    async def pause_run(context: ToolContext, run_id: str = "") -> dict[str, Any]:
        """Pause the background task until the user asks to resume it.

        Args:
            context: The calling session (given by the runtime, not by the model).
            run_id: Which run; empty for the latest one of this conversation.

        """
        run = _target(context, run_id)
        await run.pause()
        return _report(run)

    async def resume_run(context: ToolContext, run_id: str = "") -> dict[str, Any]:
        """Resume a paused background task.

        Args:
            context: The calling session (given by the runtime, not by the model).
            run_id: Which run; empty for the latest one of this conversation.

        """
        run = _target(context, run_id)
        await run.resume()
        return _report(run)

    async def cancel_run(context: ToolContext, run_id: str = "") -> dict[str, Any]:
        """Stop the background task for good, e.g. when the user says "stop that".

        Args:
            context: The calling session (given by the runtime, not by the model).
            run_id: Which run; empty for the latest one of this conversation.

        """
        run = _target(context, run_id)
        await run.cancel()
        return _report(run)

    return [function_tool(f) for f in (run_status, pause_run, resume_run, cancel_run)]
