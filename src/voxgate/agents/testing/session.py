"""``ScriptedSession``: an agent on a scripted engine, driven turn by turn from a test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

from voxgate.agents.agent import Agent
from voxgate.agents.runtime import AgentRuntime
from voxgate.agents.testing.engine import ScriptedEngine, Step
from voxgate.agents.testing.result import RunResult
from voxgate.protocol import Event
from voxgate.session import EventWriter, Session


class _Recorder(EventWriter):
    """A participant that keeps every event, synchronously, in order."""

    def __init__(self) -> None:
        super().__init__(self._ignore, max_pending=1 << 30)
        self.events: list[Event] = []

    async def _ignore(self, ev: Event) -> None:  # pragma: no cover - never run
        return None

    def offer(self, ev: Event) -> None:
        self.events.append(ev)


class ScriptedSession:
    """``async with ScriptedSession(agent, script=[...]) as s: result = await s.run("hi")``.

    The engine answers each ``response.create`` with the next step of ``script``; the agent
    runtime runs tools and handoffs for real. ``runtime_options`` go to ``AgentRuntime``.
    """

    def __init__(
        self,
        agent: Agent,
        script: Iterable[Step] = (),
        *,
        timeout: float = 10.0,
        **runtime_options: Any,
    ) -> None:
        self.engine = ScriptedEngine(script)
        self.timeout = timeout
        self.session = Session(
            "scripted",
            lambda _config: self.engine,
            lambda session: AgentRuntime(session, agent, **runtime_options),
        )
        self.runtime: AgentRuntime = self.session.agent  # type: ignore[assignment]
        self._recorder = _Recorder()
        self.session.join(self._recorder)

    async def __aenter__(self) -> ScriptedSession:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    @property
    def events(self) -> list[Event]:
        """Every event the session sent its participants so far."""
        return self._recorder.events

    @property
    def agent(self) -> Agent:
        """The agent in charge now."""
        return self.runtime.agent

    def add_script(self, *steps: Step) -> None:
        """More steps for the scripted model."""
        self.engine.script.extend(steps)

    async def start(self) -> None:
        """Start the engine (the runtime configures it with the starting agent)."""
        await self.session.send({"type": "session.update", "session": {"type": "realtime"}})
        await self.settle()

    async def run(self, user_input: str, *, barge_in: bool = False, wait: bool = True) -> RunResult:
        """A typed user turn; with ``wait``, returns once the session is idle again.

        ``barge_in``: the user starts speaking first (cancels cancellable tools, like a voice
        barge-in would). Without ``wait``, the result holds only what happened so far.
        """
        start = len(self.events)
        if barge_in:
            self.engine.speech_started()
            self.engine.speech_stopped()
            await self.wait_until(lambda: self.engine.quiet, what="the barge-in to land")
        await self.session.say(user_input)
        if wait:
            await self.settle(since=start)
        return RunResult(self.events[start:])

    async def settle(self, *, since: int | None = None) -> RunResult:
        """Wait until the engine is quiet and the runtime idle; what happened since ``since``."""
        start = len(self.events) if since is None else since
        await self.wait_until(lambda: self.engine.quiet and self.runtime.idle)
        return RunResult(self.events[start:])

    async def wait_for(self, type_: str, *, after: int = 0) -> Event:
        """The first event of this type at or after index ``after``."""
        found: list[Event] = []

        def seen() -> bool:
            found[:] = [ev for ev in self.events[after:] if ev["type"] == type_][:1]
            return bool(found)

        await self.wait_until(seen, what=f"a {type_!r} event")
        return found[0]

    async def wait_until(self, condition: Callable[[], bool], *, what: str = "idle") -> None:
        """Poll ``condition`` (the session runs meanwhile) until true or ``timeout``."""
        deadline = time.monotonic() + self.timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {self.timeout:g} s waiting for {what}; running calls: "
                    f"{[c.name for c in self.runtime.calls.values()]}"
                )
            await asyncio.sleep(0.005)
