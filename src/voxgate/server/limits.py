"""Rate and usage limits: how often a key or a client address may start something.

``SlidingWindow`` counts events per caller in the last ``window_s`` seconds, in memory, callers
kept only as hashes. ``RateLimits`` holds the gateway's: sessions, WebRTC offers and client
secrets, each per caller (a user, whichever of their keys, tokens or tickets; else the key) and
per client address; in a cluster they are counted in Redis across every node (``share``:
``cluster/rates.py``), in memory while Redis is unreachable. ``SessionLimit`` is browser-direct
mode's usage limit (sessions per key per hour, per node).
"""

from __future__ import annotations

import collections
import hashlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from voxgate.server.auth import APIError, Grant
from voxgate.settings import Settings

SharedTake = Callable[[str, str, int, float], Awaitable[float | None]]
"""Counts an event in a window every node shares: (limit name, caller, limit, window_s) → the
seconds to wait (0.0: allowed), None when it cannot be counted there (count it here)."""
MAX_CALLERS = 100_000
"""Callers tracked per window; past it, idle ones are dropped first (memory stays bounded)."""


class SlidingWindow:
    """At most ``limit`` events per caller in any ``window_s`` seconds; 0 means no limit."""

    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._events: dict[str, collections.deque[float]] = {}

    def __len__(self) -> int:
        """Callers tracked."""
        return len(self._events)

    def take(self, caller: str) -> float:
        """Count one event for ``caller``; 0.0 when allowed, else the seconds until it would be.

        A refused event is not counted: a caller that retries too early does not push its own
        window further out.
        """
        if not self.limit:
            return 0.0
        who = hashlib.sha256(caller.encode()).hexdigest()
        now = self.clock()
        events = self._events.get(who)
        if events is None:
            if len(self._events) >= MAX_CALLERS:
                self._forget_idle(now)
            events = self._events[who] = collections.deque()
        while events and events[0] <= now - self.window_s:
            events.popleft()
        if len(events) >= self.limit:
            return max(events[0] + self.window_s - now, 0.001)
        events.append(now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        for who in [w for w, e in self._events.items() if not e or e[-1] <= now - self.window_s]:
            del self._events[who]
        while len(self._events) >= MAX_CALLERS:  # all busy: the oldest caller goes
            del self._events[next(iter(self._events))]


def too_many(what: str, limit: int, window_s: float, wait_s: float, per: str) -> APIError:
    """The 429 for a refused event: what, the limit, and when to retry (``Retry-After``)."""
    wait = max(1, math.ceil(wait_s))
    return APIError(
        429,
        f"rate limit: {limit} {what} per {window_s:.0f} s per {per}; retry in {wait} s",
        code="rate_limit_exceeded",
        type_="rate_limit_error",
        headers={"Retry-After": str(wait)},
    )


class SessionLimit:
    """Browser-direct mode's usage limit: ``limit`` sessions per key per ``window_s``."""

    def __init__(
        self, limit: int, window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = SlidingWindow(limit, window_s, clock)

    def take(self, caller: str | None) -> None:
        """Count one session for ``caller`` (``Grant.caller``), or raise a 429.

        The 429 says when the next one is allowed.
        """
        wait = self.window.take(caller or "")
        if wait:
            w = self.window
            raise APIError(
                429,
                f"usage limit reached: {w.limit} sessions per {w.window_s:.0f} s for this "
                f"key; the next one in {wait:.0f} s",
                code="rate_limit_exceeded",
                type_="rate_limit_error",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )


@dataclass
class Limit:
    """One kind of event, limited per key and per client address."""

    what: str
    per_key: SlidingWindow
    per_address: SlidingWindow
    exempt: frozenset[str]
    shared: SharedTake | None = None

    async def take(self, conn: HTTPConnection, grant: Grant) -> None:
        """Count one event for the connection's key and address, or raise a 429."""
        if grant.caller is not None:
            wait = await self._take(self.per_key, "key", grant.caller)
            if wait:
                w = self.per_key
                raise too_many(self.what, w.limit, w.window_s, wait, "key")
        address = conn.client.host if conn.client else ""
        if address not in self.exempt:
            wait = await self._take(self.per_address, "address", "addr:" + address)
            if wait:
                w = self.per_address
                raise too_many(self.what, w.limit, w.window_s, wait, "client address")

    async def _take(self, window: SlidingWindow, per: str, caller: str) -> float:
        if self.shared is not None and window.limit:
            name = f"{self.what.replace(' ', '_')}:{per}"
            wait = await self.shared(name, caller, window.limit, window.window_s)
            if wait is not None:
                return wait
        return window.take(caller)


class RateLimits:
    """The gateway's limits: new sessions, WebRTC offers and client secrets, per minute.

    Each per client address (loopback exempt by default: the local user, and benchmarks) and
    per key (``rate_limit_key_factor`` times as many, exempt nowhere).
    """

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        exempt = frozenset(settings.rate_limit_exempt_addresses)
        factor = settings.rate_limit_key_factor

        def limit(what: str, per_minute: int) -> Limit:
            return Limit(
                what,
                SlidingWindow(per_minute * factor, 60.0, clock),
                SlidingWindow(per_minute, 60.0, clock),
                exempt,
            )

        self.sessions = limit("new sessions", settings.sessions_per_minute)
        self.offers = limit("WebRTC offers", settings.offers_per_minute)
        self.client_secrets = limit("client secrets", settings.client_secrets_per_minute)

    def share(self, take: SharedTake) -> None:
        """Count in windows every node of a cluster shares (``cluster/rates.py``)."""
        for limit in (self.sessions, self.offers, self.client_secrets):
            limit.shared = take
