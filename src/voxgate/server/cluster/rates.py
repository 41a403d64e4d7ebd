"""Rate limits shared by every node of a cluster: sliding windows in Redis.

One sorted set per limit and caller (``rate:{limit}:{sha256 of the caller}``) holds the times of
the events in the window, by Redis's own clock (nodes' clocks may differ); a script drops the
old ones, counts, and adds the new one only when under the limit, atomically. The in-memory
``SlidingWindow`` (``server/limits.py``) takes over while Redis is unreachable.
"""

from __future__ import annotations

import hashlib
import logging
import uuid

from redis.exceptions import RedisError

from voxgate.server.cluster.registry import Cluster

log = logging.getLogger(__name__)

_TAKE = """
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local window_us = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_us - window_us)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + window_us - now_us)
end
redis.call('ZADD', KEYS[1], now_us, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window_us / 1000))
return '0'
"""
"""At most ARGV[1] events in any ARGV[2] µs in sorted set KEYS[1]: count event ARGV[3], or
return the µs until the oldest leaves the window (a refused event is not counted)."""


class SharedRates:
    """Sliding windows every node of ``cluster`` counts into."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._take = cluster.redis.register_script(_TAKE)

    async def take(self, name: str, caller: str, limit: int, window_s: float) -> float | None:
        """Count one event of ``caller`` against limit ``name``.

        0.0 when allowed, else the seconds until it would be; None when Redis is unreachable
        (count it locally).
        """
        who = hashlib.sha256(caller.encode()).hexdigest()
        try:
            wait_us = await self._take(
                keys=[self._cluster.key("rate", name, who)],
                args=[limit, int(window_s * 1_000_000), uuid.uuid4().hex],
            )
        except (RedisError, OSError) as exc:
            log.warning("cluster: rate limit %s counted here only (%s)", name, exc)
            return None
        return max(int(wait_us), 0) / 1_000_000
