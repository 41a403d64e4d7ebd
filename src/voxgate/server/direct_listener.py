"""A browser-direct call seen from the server: a listener runs the agent and records the call.

The browser's call goes straight to the Realtime service; voxgate joins it on the call's
sideband connection (``WS {upstream}/realtime?call_id=...``) as a session of its own: engine
``openai`` on that one connection (no reconnect: a replay would repeat the call's items), the
server's agent on top (its ``session.update`` gives the call the agent's instructions and tools,
and it answers the tool calls exactly as in any other session), and the store's recorder
writing the call into the conversation of the call's id (nothing is restored into a
live call). A participant watches for the call's end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from voxgate.engines.openai.connect import Upstream, open_upstream
from voxgate.engines.openai.engine import OpenAIEngine
from voxgate.observability import SessionObserver
from voxgate.protocol import Event
from voxgate.session import AgentFactory, EventWriter, RecorderFactory, Session
from voxgate.settings import Settings

log = logging.getLogger(__name__)
Spawn = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]


class DirectCallListener:
    """The server's side of one browser-direct call: the agent, and its record."""

    def __init__(
        self, calls: DirectCalls, call_id: str, recorder: RecorderFactory | None = None
    ) -> None:
        # one connection: when it ends, the engine gives up instead of replaying into the call
        self._settings = calls.settings.model_copy(update={"openai_reconnect_attempts": 0})
        self.call_id = call_id
        self._calls = calls
        self._connected = False
        self.closed = False
        self.session = Session(
            f"side_{call_id}",
            lambda config: OpenAIEngine(self._settings, config, connect=self._connect),
            calls.agent,
            observer=calls.observer,
            recorder=recorder,
        )
        self.writer = EventWriter(self._watch, max_pending=self._settings.client_queue_size)

    async def start(self) -> None:
        """Join the call (the engine connects in the background)."""
        self.session.join(self.writer)
        self._calls.spawn(self.writer.run())
        await self.session.start()

    async def close(self) -> None:
        """Leave the call; its record stays."""
        if self.closed:
            return
        self.closed = True
        self.writer.close()
        self.session.leave(self.writer)
        await self.session.close()
        self._calls.left(self)

    async def _connect(self) -> Upstream:
        if self._connected:
            raise ConnectionError(f"call {self.call_id} ended: its listener does not reconnect")
        self._connected = True
        return await open_upstream(self._settings, call_id=self.call_id)

    async def _watch(self, ev: Event) -> None:
        if ev["type"] == "error" and ev["error"].get("code") == "upstream_unavailable":
            log.info("listener of call %s: the call is over", self.call_id)
            self._calls.spawn(self.close())


class DirectCalls:
    """The browser-direct calls this process listens to, by call id."""

    def __init__(
        self,
        settings: Settings,
        agent: AgentFactory | None,
        spawn: Spawn,
        observer: SessionObserver | None = None,
    ) -> None:
        self.settings = settings
        self.agent = agent
        self.spawn = spawn
        self.observer = observer  # the calls are measured like any session
        self._listeners: dict[str, DirectCallListener] = {}

    def __contains__(self, call_id: str) -> bool:
        return call_id in self._listeners

    async def listen(
        self, call_id: str, recorder: RecorderFactory | None = None
    ) -> DirectCallListener:
        """Join a new call with a listener (``recorder`` records it)."""
        listener = self._listeners[call_id] = DirectCallListener(self, call_id, recorder)
        await listener.start()
        return listener

    def left(self, listener: DirectCallListener) -> None:
        """``listener`` has closed."""
        if self._listeners.get(listener.call_id) is listener:
            del self._listeners[listener.call_id]

    async def close(self) -> None:
        """Leave every call (server shutdown)."""
        for listener in list(self._listeners.values()):
            await listener.close()
