"""Narration: a background run's messages told to the user in the live voice session.

Each message to narrate becomes a system item in the conversation; the runtime then asks
for a response when the agent is idle (queued while it speaks or the user does). Tool
events and status changes are shown to participants (``voxgate.run.*``), not spoken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from voxgate.agents.runs.run import Run
from voxgate.agents.runs.runner import RunEvent
from voxgate.protocol import Event, event, text_message

NarrationPolicy = Literal["every", "final", "summary"]
"""``every`` message of a run, its ``final`` one only, or a ``summary`` of all at the end."""

MAX_CHARS = 1500


class Narrator:
    """Follows the runs of one session; queues what to say, shows what not to.

    ``broadcast`` shows an event to the session's participants; ``changed`` runs after each
    run event (the runtime then says what is queued, if it may).
    """

    def __init__(
        self,
        broadcast: Callable[[Event], None],
        changed: Callable[[], None],
        policy: NarrationPolicy = "final",
    ) -> None:
        self._broadcast = broadcast
        self._changed = changed
        self.policy = policy
        self._queue: list[str] = []
        self._runs: list[Run] = []

    @property
    def pending(self) -> bool:
        """Narrations waiting for the agent to be idle."""
        return bool(self._queue)

    def follow(self, run: Run) -> None:
        """Show and narrate ``run`` in this session from now on."""
        if run in self._runs:
            return
        self._runs.append(run)
        self._broadcast(event("voxgate.run.started", run_id=run.id, agent=run.agent, task=run.task))
        for ev in list(run.events):  # what happened before we followed (e.g. an API run)
            self._on_event(run, ev)
        if not run.finished:
            run.listen(self._on_event)

    def take(self) -> list[dict[str, Any]]:
        """The queued narrations as conversation items; the queue empties."""
        texts, self._queue = self._queue, []
        return [text_message(text, "system") for text in texts]

    def detach(self) -> None:
        """Stop following (the session ends; the runs go on)."""
        for run in self._runs:
            run.unlisten(self._on_event)
        self._runs.clear()

    def _on_event(self, run: Run, ev: RunEvent) -> None:
        type_ = ev["type"]
        if type_ == "status":
            self._broadcast(
                event("voxgate.run.status", run_id=run.id, agent=run.agent, **ev["data"])
            )
            return
        self._broadcast(event("voxgate.run.event", run_id=run.id, agent=run.agent, event=ev))
        if type_ == "textmessage" and self.policy == "every":
            content = _clip(str(ev["data"].get("content", "")))
            self._queue.append(
                f"Update from the background task {run.agent} ({run.id}): {content}\n"
                "Tell the user this update in one short sentence."
            )
        elif type_ == "done":
            data = ev["data"]
            self._broadcast(
                event(
                    "voxgate.run.status",
                    run_id=run.id,
                    agent=run.agent,
                    status=data["status"],
                    error=data.get("error"),
                )
            )
            run.unlisten(self._on_event)
            if run in self._runs:
                self._runs.remove(run)
            self._on_done(run, data)
        self._changed()

    def _on_done(self, run: Run, data: dict[str, Any]) -> None:
        status = data["status"]
        if status == "cancelled":
            return  # the user (or an API client) stopped it
        if status == "failed":
            self._queue.append(
                f"The background task {run.agent} ({run.id}) failed: {data.get('error')}\n"
                "Tell the user briefly."
            )
        elif self.policy == "final" and run.last_message:
            self._queue.append(
                f"The background task {run.agent} ({run.id}) finished. Its result: "
                f"{_clip(run.last_message)}\nTell the user the result briefly."
            )
        elif self.policy == "summary" and run.messages():
            joined = "\n".join(f"- {m}" for m in run.messages())
            self._queue.append(
                f"The background task {run.agent} ({run.id}) finished. Its messages:\n"
                f"{_clip(joined)}\nSummarise the outcome for the user in one or two sentences."
            )
        elif self.policy == "every":
            self._queue.append(
                f"The background task {run.agent} ({run.id}) has finished. Tell the user."
            )


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[-MAX_CHARS:]
