"""An AutoGen AgentChat team as a background agent (extra: ``pip install voxgate[autogen]``)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

from voxgate.agents.runs.runner import RunControl, RunEvent, text_message

try:
    from autogen_agentchat.base import TaskResult, Team
    from autogen_agentchat.messages import (
        BaseChatMessage,
        ToolCallExecutionEvent,
        ToolCallRequestEvent,
    )
    from autogen_core import CancellationToken
except ImportError as exc:  # pragma: no cover - depends on the extra
    raise ImportError("AutoGenRunner needs AutoGen: pip install 'voxgate[autogen]'") from exc

TeamFactory = Callable[[], Any]


class AutoGenRunner:
    """Runs an AgentChat team's ``run_stream`` on the task; its messages become run events.

    ``team`` is a team, or a function returning a fresh one per run (safer: a team holds
    the conversation). A shared team is reset before each run. Pausing pauses the team
    (``Team.pause``), cancelling cancels its ``CancellationToken``.
    """

    def __init__(
        self,
        name: str,
        team: Team | TeamFactory,
        *,
        description: str = "",
        default_task: str = "",
    ) -> None:
        self.name = name
        self._team = team
        self.description = description or "an AutoGen agent team"
        self.default_task = default_task

    async def _new_team(self) -> Team:
        if isinstance(self._team, Team):
            await self._team.reset()
            return self._team
        team = self._team()
        return await team if inspect.isawaitable(team) else team

    async def stream(self, task: str, control: RunControl) -> AsyncIterator[RunEvent]:
        """The team's messages as run events."""
        team = await self._new_team()
        token = CancellationToken()
        control.on_pause(team.pause, team.resume)
        try:
            async for message in team.run_stream(
                task=task, cancellation_token=token, output_task_messages=False
            ):
                ev = to_run_event(message)
                if ev is not None:
                    yield ev
        finally:
            token.cancel()


def to_run_event(message: Any) -> RunEvent | None:
    """One AgentChat message or event as a run event; None for what is not shown."""
    if isinstance(message, TaskResult):
        return None  # the run's own ``done`` follows
    if isinstance(message, ToolCallRequestEvent):
        return {
            "type": "toolcallrequest",
            "data": {
                "source": message.source,
                "calls": [
                    {"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.content
                ],
            },
        }
    if isinstance(message, ToolCallExecutionEvent):
        return {
            "type": "toolcallexecution",
            "data": {
                "source": message.source,
                "results": [
                    {
                        "call_id": r.call_id,
                        "name": r.name,
                        "content": r.content,
                        "is_error": bool(r.is_error),
                    }
                    for r in message.content
                ],
            },
        }
    if isinstance(message, BaseChatMessage):
        return text_message(message.source, message.to_text())
    return None
