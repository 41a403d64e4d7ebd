"""Usage limits per key: how many sessions a caller may start in a sliding window (in memory)."""

from __future__ import annotations

import collections
import hashlib
import time
from collections.abc import Callable

from voxgate.server.auth import APIError


class SessionLimit:
    """At most ``limit`` sessions per key in any ``window_s`` seconds; 0 means no limit."""

    def __init__(
        self, limit: int, window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._starts: dict[str, collections.deque[float]] = {}

    def take(self, key: str | None) -> None:
        """Count one session for ``key``, or raise a 429 saying when the next one is allowed."""
        if not self.limit:
            return
        who = hashlib.sha256((key or "").encode()).hexdigest()  # keys are not kept as such
        now = self.clock()
        starts = self._starts.setdefault(who, collections.deque())
        while starts and starts[0] <= now - self.window_s:
            starts.popleft()
        if len(starts) >= self.limit:
            wait = starts[0] + self.window_s - now
            raise APIError(
                429,
                f"usage limit reached: {self.limit} sessions per {self.window_s:.0f} s for this "
                f"key; the next one in {wait:.0f} s",
                code="rate_limit_exceeded",
                type_="rate_limit_error",
            )
        starts.append(now)
