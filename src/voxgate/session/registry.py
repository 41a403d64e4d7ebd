"""Finds the session for an id: in this process (one node)."""

from __future__ import annotations

import asyncio
import contextlib

from voxgate.observability import SessionObserver
from voxgate.protocol import Event
from voxgate.session.memory import release_memory
from voxgate.session.session import AgentFactory, EngineFactory, RecorderFactory, Session


class SessionRegistry:
    """In-process sessions by id; a session lives while it has participants.

    It outlives its last caller by a grace period (``grace_s``), so a client that dropped
    resumes it by id. A session whose engine ended on its own is forgotten at once: its id is
    free for a fresh session, and only live sessions are counted (``len``, ``/healthz``).
    """

    def __init__(
        self,
        engine_factory: EngineFactory,
        *,
        observer: SessionObserver | None = None,
        grace_s: float = 0.0,
        max_participants: int | None = None,
    ) -> None:
        self._engine_factory = engine_factory
        self._observer = observer  # every session's: metrics, traces
        self._grace_s = grace_s
        self._max_participants = max_participants
        self._sessions: dict[str, Session] = {}
        self._parked: dict[str, asyncio.Task[None]] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def sessions(self) -> list[Session]:
        """The live sessions."""
        return list(self._sessions.values())

    def get(self, session_id: str) -> Session | None:
        """The live session with this id, if any."""
        return self._sessions.get(session_id)

    def open(
        self,
        session_id: str,
        *,
        config: Event | None = None,
        agent: AgentFactory | None = None,
        recorder: RecorderFactory | None = None,
    ) -> Session:
        """The session with this id, created if new (a live one keeps its engine and agent).

        A new session's engine starts configured with ``config``, and ``agent`` makes the agent
        it starts with; without one it is a plain model session (as ``/v1/realtime`` serves).
        ``recorder`` makes what records it (the store's recorder).
        """
        session = self._sessions.get(session_id)
        if session is None:
            session = self._sessions[session_id] = Session(
                session_id,
                self._engine_factory,
                agent,
                config=config,
                on_end=self._forget,
                observer=self._observer,
                recorder=recorder,
                max_participants=self._max_participants,
            )
        return session

    def _forget(self, session: Session) -> None:
        if self._sessions.get(session.id) is session:
            del self._sessions[session.id]
            release_memory()

    async def release(self, session: Session, *, grace: bool = True) -> None:
        """A participant left: close the session once no caller (sidebands aside) is left.

        With ``grace`` (and ``grace_s`` set) it is closed only after ``grace_s`` without one;
        a client that joins meanwhile keeps it. ``grace=False``: at once (a hang-up).
        """
        if session.callers or self._sessions.get(session.id) is not session:
            return
        parked = self._parked.pop(session.id, None)
        if parked is not None:
            parked.cancel()
        if grace and self._grace_s > 0:
            task = asyncio.create_task(self._close_later(session), name=f"park {session.id}")
            self._parked[session.id] = task
            return
        del self._sessions[session.id]
        await session.close()
        release_memory()

    async def _close_later(self, session: Session) -> None:
        await asyncio.sleep(self._grace_s)
        if self._parked.get(session.id) is asyncio.current_task():
            del self._parked[session.id]
        await self.release(session, grace=False)

    async def drain(self) -> None:
        """No grace period from now on (the server is going away): idle sessions close now."""
        self._grace_s = 0.0
        parked = [s for s in self.sessions() if s.id in self._parked]
        await asyncio.gather(*(self.release(s, grace=False) for s in parked))

    async def close(self) -> None:
        """Close every session (server shutdown)."""
        parked, self._parked = list(self._parked.values()), {}
        for task in parked:
            task.cancel()
        for task in parked:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
