"""An in-process upstream for engine ``openai``: any ``Engine`` stands in for the Realtime server."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator

from voxgate.engines import Engine
from voxgate.engines.openai.connect import UpstreamClosed
from voxgate.protocol import Event


class EngineUpstream:
    """An ``Upstream`` relaying to ``engine``: no socket, no JSON; its end is a dropped connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._events: AsyncIterator[Event] = engine.events()
        self._closed = False

    async def send(self, ev: Event) -> None:
        """``engine.send`` (a copy: the engine may keep what it is given)."""
        if self._closed:
            raise UpstreamClosed("the in-process upstream was closed")
        await self.engine.send(copy.deepcopy(ev))

    async def recv(self) -> Event:
        """The engine's next event; ``UpstreamClosed`` once its events end."""
        try:
            return await anext(self._events)
        except StopAsyncIteration:
            self._closed = True
            raise UpstreamClosed("the in-process engine closed") from None

    async def close(self) -> None:
        """Close the engine."""
        self._closed = True
        await self.engine.close()
