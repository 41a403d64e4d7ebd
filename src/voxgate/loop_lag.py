"""Event-loop lag: how late the loop runs a callback that was due, measured all the time.

Every session shares one event loop, so one callback that holds it (a large decode, a blocking
call) delays every other session's audio and events. The watchdog sleeps a short interval and
measures how much later than asked it woke; past ``warn_ms`` that is a warning in the log (at
most one a second), ``last_ms`` / ``max_ms`` are kept, and ``on_lag`` hears every measurement
(the Prometheus histogram).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class LoopLagWatchdog:
    """Measures the event loop's scheduling delay every ``interval_s`` while ``run`` runs."""

    def __init__(
        self,
        *,
        warn_ms: float = 100.0,
        interval_s: float = 0.1,
        on_lag: Callable[[float], None] | None = None,
    ) -> None:
        self.warn_ms = warn_ms
        self.on_lag = on_lag
        self.interval_s = interval_s
        self.last_ms = 0.0
        """The latest measured delay, in milliseconds."""
        self.max_ms = 0.0
        """The largest delay measured since start."""
        self.stalls = 0
        """How many measurements were over ``warn_ms``."""
        self._warned_at = -1.0

    async def run(self) -> None:
        """Measure until cancelled."""
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(self.interval_s)
            self.observe((time.perf_counter() - asked - self.interval_s) * 1000)

    def observe(self, lag_ms: float) -> None:
        """Record one measurement (warns when over the threshold, at most once a second)."""
        self.last_ms = max(lag_ms, 0.0)
        self.max_ms = max(self.max_ms, self.last_ms)
        if self.on_lag is not None:
            self.on_lag(self.last_ms)
        if self.last_ms <= self.warn_ms:
            return
        self.stalls += 1
        now = time.monotonic()
        if now - self._warned_at >= 1.0:
            self._warned_at = now
            log.warning(
                "event loop lagged %.0f ms (over %.0f ms; %d such stalls so far, max %.0f ms): "
                "a callback held the loop and every session waited",
                self.last_ms,
                self.warn_ms,
                self.stalls,
                self.max_ms,
            )
