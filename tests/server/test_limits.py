"""Usage limits per key."""

from __future__ import annotations

import pytest

from voxgate.server.auth import APIError
from voxgate.server.limits import SessionLimit


def test_a_key_gets_its_sessions_per_window_then_a_429_saying_when():
    now = [1000.0]
    limit = SessionLimit(2, window_s=3600, clock=lambda: now[0])
    limit.take("sk-a")
    now[0] += 10
    limit.take("sk-a")
    with pytest.raises(APIError) as refused:
        limit.take("sk-a")
    assert refused.value.status == 429
    assert refused.value.code == "rate_limit_exceeded"
    assert "3590 s" in str(refused.value)
    limit.take("sk-b")  # another key has its own count
    now[0] += 3591  # the first session left the window
    limit.take("sk-a")
    with pytest.raises(APIError):
        limit.take("sk-a")


def test_zero_means_no_limit():
    limit = SessionLimit(0)
    for _ in range(100):
        limit.take("sk-a")
