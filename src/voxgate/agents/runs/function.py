"""A plain async Python function as a background agent."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

from voxgate.agents.runs.runner import RunControl, RunEvent, text_message


class FunctionRunner:
    """Runs ``fn(task)``: an async generator yielding text (or run events), or a coroutine.

    Each yielded string becomes a ``textmessage``; a coroutine's return value (if not None)
    is the run's one, final message.
    """

    def __init__(
        self,
        name: str,
        fn: Callable[[str], Any],
        *,
        description: str = "",
        default_task: str = "",
    ) -> None:
        self.name = name
        self.fn = fn
        self.description = description or (inspect.getdoc(fn) or "").split("\n")[0]
        self.default_task = default_task

    async def stream(self, task: str, control: RunControl) -> AsyncIterator[RunEvent]:
        """The function's messages as run events."""
        result = self.fn(task)
        if inspect.isasyncgen(result):
            async for item in result:
                yield item if isinstance(item, dict) else text_message(self.name, str(item))
        else:
            value = await result
            if value is not None:
                yield text_message(self.name, str(value))
