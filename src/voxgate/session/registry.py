"""Finds the session for an id: in this process (one node)."""

from __future__ import annotations

import asyncio

from voxgate.observability import SessionObserver
from voxgate.protocol import Event
from voxgate.session.memory import release_memory
from voxgate.session.session import AgentFactory, EngineFactory, RecorderFactory, Session


class SessionRegistry:
    """In-process sessions by id; a session lives while it has participants.

    A session whose engine ended on its own is forgotten at once: its id is free for a fresh
    session, and only live sessions are counted (``len``, ``/healthz``).
    """

    def __init__(
        self, engine_factory: EngineFactory, *, observer: SessionObserver | None = None
    ) -> None:
        self._engine_factory = engine_factory
        self._observer = observer  # every session's: metrics, traces
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

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
            )
        return session

    def _forget(self, session: Session) -> None:
        if self._sessions.get(session.id) is session:
            del self._sessions[session.id]
            release_memory()

    async def release(self, session: Session) -> None:
        """Close the session once its last participant (sidebands aside) has left."""
        if not session.callers and self._sessions.get(session.id) is session:
            del self._sessions[session.id]
            await session.close()
            release_memory()

    async def close(self) -> None:
        """Close every session (server shutdown)."""
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
