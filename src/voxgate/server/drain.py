"""Draining a node on SIGTERM (cluster mode): its sessions finish, or move, before it exits 0.

``voxgate serve`` runs uvicorn as ``DrainingServer``: uvicorn's own SIGTERM closes the listening
socket and every WebSocket (1012) at once, then re-raises the signal (the process dies of it).
Here the first SIGTERM drains instead (``drain``):

1. the node takes no new session (``NodeDraining``: 503 with ``Retry-After`` and another live
   node's URL; ``/healthz`` answers 503 ``draining``, so a load balancer stops sending
   clients) and marks itself draining in Redis;
2. every live session's clients get ``voxgate.session.draining`` (``session_id``,
   ``seconds``, ``reason``): connect again, and the conversation resumes on another node from
   the store; a session whose last client leaves closes at once (no grace period), its
   conversation stored, its claim released for another node to take;
3. after ``drain_seconds`` the sessions left are ended (``error`` and
   ``voxgate.session.ended``, code ``node_draining``; a WebSocket closes 1013);
4. uvicorn shuts down as usual: the gateway closes, the node deregisters, the process exits 0.

A second SIGTERM, or SIGINT, stops at once as uvicorn does.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn

from voxgate.protocol import event

if TYPE_CHECKING:
    from voxgate.server.gateway import Gateway

log = logging.getLogger(__name__)

DRAINING = "voxgate.session.draining"
"""Told to every client of a live session when its node starts draining."""
DRAINED_CODE = "node_draining"
"""The ``voxgate.session.ended`` code of a session still live when the drain time is up."""


async def drain(gateway: Gateway) -> None:
    """Drain ``gateway``'s node (the steps above, up to the shutdown)."""
    seconds = gateway.settings.drain_seconds
    gateway.draining = True
    log.warning("draining: no new sessions; %d live get %g s", len(gateway.registry), seconds)
    if gateway.cluster is not None:
        await gateway.cluster.drain()
    reason = (
        "this node is shutting down: connect again (the same session id) to go on on another "
        f"node; this connection ends within {seconds:g} s"
    )
    for session in gateway.registry.sessions():
        session.broadcast(event(DRAINING, session_id=session.id, seconds=seconds, reason=reason))
    await gateway.registry.drain()
    closing = [asyncio.create_task(s.closed.wait()) for s in gateway.registry.sessions()]
    if closing:
        _, waiting = await asyncio.wait(closing, timeout=seconds)
        for task in waiting:
            task.cancel()
    left = gateway.registry.sessions()
    if left:
        log.warning("draining: ending %d sessions still live", len(left))
    ending = "this node shut down: connect again to go on on another node"
    await asyncio.gather(*(s.end(DRAINED_CODE, ending) for s in left), return_exceptions=True)
    log.info("drained")


class DrainingServer(uvicorn.Server):
    """uvicorn whose first SIGTERM runs ``drain`` before the usual shutdown (then exit 0)."""

    def __init__(self, config: uvicorn.Config, drain: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._drain = drain
        self._loop: asyncio.AbstractEventLoop | None = None
        self._asked = False
        self._draining: asyncio.Task[None] | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        """Serve until shut down (drained first on SIGTERM)."""
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """SIGTERM the first time: drain, then shut down; else as uvicorn."""
        if sig != signal.SIGTERM or self._asked or self._loop is None:
            super().handle_exit(sig, frame)
            return
        self._asked = True
        self._loop.call_soon_threadsafe(self._start_draining)

    def _start_draining(self) -> None:
        self._draining = asyncio.create_task(self._drain_then_exit(), name="drain")

    async def _drain_then_exit(self) -> None:
        try:
            await self._drain()
        except Exception:
            log.exception("draining failed; shutting down")
        finally:
            self.should_exit = True
