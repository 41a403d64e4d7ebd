"""The process's runners, and the runs they are doing or did."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterable

from voxgate.agents.runs.run import Run
from voxgate.agents.runs.runner import Runner


class UnknownRunner(LookupError):
    """No runner by that name."""


class RunManager:
    """Starts runs by runner name, finds them by id; keeps the latest ``keep`` runs."""

    def __init__(self, runners: Iterable[Runner] = (), *, keep: int = 200) -> None:
        self.runners: dict[str, Runner] = {}
        self.runs: OrderedDict[str, Run] = OrderedDict()
        self.keep = keep
        self.owner_of: Callable[[str], str | None] | None = None
        """The user a live session belongs to (the server's), so a run a session's tool
        starts is that user's."""
        for runner in runners:
            self.add_runner(runner)

    def add_runner(self, runner: Runner) -> None:
        """Make ``runner`` startable by name; one runner per name."""
        known = self.runners.get(runner.name)
        if known is not None and known is not runner:
            raise ValueError(f"two runners are named {runner.name!r}")
        self.runners[runner.name] = runner

    def start(
        self,
        name: str,
        task: str = "",
        *,
        session_id: str | None = None,
        owner: str | None = None,
    ) -> Run:
        """A new run of runner ``name`` on ``task`` (empty: the runner's default task).

        ``owner``: the user starting it (default: the user session ``session_id`` belongs to).
        """
        runner = self.runners.get(name)
        if runner is None:
            known = ", ".join(sorted(self.runners)) or "none"
            raise UnknownRunner(f"no runner named {name!r} (known: {known})")
        if owner is None and session_id is not None and self.owner_of is not None:
            owner = self.owner_of(session_id)
        run = Run(runner, task, session_id=session_id, owner=owner)
        self.runs[run.id] = run
        self._forget_old()
        run.start()
        return run

    def get(self, run_id: str) -> Run | None:
        """The run with this id, if still kept."""
        return self.runs.get(run_id)

    def latest(self, *, session_id: str | None = None, active: bool = False) -> Run | None:
        """The most recent run (of this session; not finished, with ``active``)."""
        for run in reversed(self.runs.values()):
            if session_id is not None and run.session_id != session_id:
                continue
            if active and run.finished:
                continue
            return run
        return None

    async def close(self) -> None:
        """Cancel every unfinished run."""
        await asyncio.gather(*(r.cancel() for r in self.runs.values()), return_exceptions=True)

    def _forget_old(self) -> None:
        for run_id in list(self.runs):
            if len(self.runs) <= self.keep:
                break
            if self.runs[run_id].finished:
                del self.runs[run_id]


class SessionRuns:
    """One session's side of the runs: what its tools may start, find and control.

    ``follow`` shows and narrates a run in the session (the runtime's narrator).
    """

    def __init__(self, manager: RunManager, session_id: str, follow: Callable[[Run], None]) -> None:
        self.manager = manager
        self.session_id = session_id
        self._follow = follow

    def start(self, runner: Runner, task: str = "") -> Run:
        """A background run of ``runner`` for this session, narrated here."""
        self.manager.add_runner(runner)
        run = self.manager.start(runner.name, task, session_id=self.session_id)
        self._follow(run)
        return run

    def get(self, run_id: str) -> Run | None:
        """Any kept run, by id."""
        return self.manager.get(run_id)

    def latest(self, *, active: bool = False) -> Run | None:
        """The most recent run of this session (not finished, with ``active``)."""
        return self.manager.latest(session_id=self.session_id, active=active)
