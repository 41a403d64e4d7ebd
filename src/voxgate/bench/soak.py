"""``voxgate bench soak --sessions N --rounds R``: does memory come back when sessions close.

A ``voxgate serve`` on the ``loopback`` engine (no models, no grace period) is spawned, or
``--url`` / ``--pid`` name a running one (run it with ``VOXGATE_SESSION_GRACE_SECONDS=0``, or
each round waits out the grace period). Each round opens N ``/ws`` sessions at once, waits
until every one has answered a ``session.update`` (its engine runs), closes them all, and
waits until ``/healthz`` counts none. The server's RSS (``/proc``) is printed after each
round's opening and closing: a server that returns what sessions took stays flat round after
round. Figures only; nothing is asserted on them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import websockets

from voxgate.bench.server import serve

SETTLE_S = 1.5
"""Wait after the last session closed before reading RSS (the server trims its heap then)."""
CONNECT_BATCH = 50

_LOOPBACK = {
    "VOXGATE_ENGINE": "loopback",
    "VOXGATE_AGENTS": "none",
    "VOXGATE_SESSION_GRACE_SECONDS": "0",  # a round closes its sessions, not parks them
}


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid``, MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass
class Figures:
    """RSS (MB) at the start, and after each round's opening and closing."""

    start_mb: float
    opened_mb: list[float] = field(default_factory=list)
    closed_mb: list[float] = field(default_factory=list)

    @property
    def growth_mb(self) -> float:
        """What the last round left over the first round's close."""
        return self.closed_mb[-1] - self.closed_mb[0] if self.closed_mb else 0.0


async def _open(url: str, ready: asyncio.Event, done: asyncio.Event) -> None:
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
        async for message in ws:
            if isinstance(message, str) and json.loads(message)["type"] == "session.updated":
                break
        ready.set()
        await done.wait()


async def _live_sessions(http: httpx.AsyncClient) -> int:
    return int((await http.get("/healthz")).json()["sessions"])


async def _round(base: str, sessions: int, http: httpx.AsyncClient, pid: int) -> float:
    """One round; the RSS while all its sessions are open."""
    done = asyncio.Event()
    ready = [asyncio.Event() for _ in range(sessions)]
    tasks = []
    ws_base = base.replace("http", "ws", 1)
    for start in range(0, sessions, CONNECT_BATCH):
        batch = ready[start : start + CONNECT_BATCH]
        for event in batch:
            url = f"{ws_base}/ws/soak-{uuid.uuid4().hex}"
            tasks.append(asyncio.create_task(_open(url, event, done)))
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in batch)), 60)
    opened = rss_mb(pid)
    done.set()
    await asyncio.gather(*tasks)
    async with asyncio.timeout(60):
        while True:  # the server counts a session until its socket's close has reached it
            if not await _live_sessions(http):
                return opened
            await asyncio.sleep(0.1)


async def soak(
    base: str,
    pid: int,
    *,
    sessions: int,
    rounds: int,
    settle_s: float = SETTLE_S,
    report: Callable[[str], None] = print,
) -> Figures:
    """Open and close ``sessions`` sessions ``rounds`` times on ``base``; RSS of ``pid``."""
    figures = Figures(start_mb=rss_mb(pid))
    report(f"start: RSS {figures.start_mb:.1f} MB")
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for index in range(rounds):
            began = time.monotonic()
            figures.opened_mb.append(await _round(base, sessions, http, pid))
            await asyncio.sleep(settle_s)
            figures.closed_mb.append(rss_mb(pid))
            report(
                f"round {index + 1:>2}: {sessions} sessions opened and closed in "
                f"{time.monotonic() - began:.1f} s; RSS open {figures.opened_mb[-1]:.1f} MB, "
                f"closed {figures.closed_mb[-1]:.1f} MB"
            )
    report(
        f"RSS {figures.start_mb:.1f} → {figures.closed_mb[-1]:.1f} MB over {rounds} rounds "
        f"({figures.growth_mb:+.1f} MB from the first round's close to the last)"
    )
    return figures


def main(args: argparse.Namespace) -> int:
    """Print RSS per round; with ``--url`` the running server's ``--pid`` is read."""
    with contextlib.ExitStack() as stack:
        if args.url:
            if args.pid is None:
                raise SystemExit("--url needs --pid (the server's process id, for its RSS)")
            base, pid = args.url.rstrip("/"), args.pid
        else:
            server = stack.enter_context(serve(env=_LOOPBACK, timeout=60))
            base, pid = server.http, server.pid
        asyncio.run(soak(base, pid, sessions=args.sessions, rounds=args.rounds))
    return 0
