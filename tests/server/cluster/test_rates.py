"""Rate limits counted in Redis, across every node of a cluster (the real Redis, a prefix each)."""

from __future__ import annotations

import pytest

from tests.server.cluster.conftest import REDIS, nodes, refused
from tests.server.test_participants import Client
from voxgate.server.cluster import Cluster
from voxgate.server.cluster.rates import SharedRates


async def test_a_window_is_shared_by_the_nodes(prefix) -> None:
    a, b = (Cluster(REDIS, node_id=n, node_url="http://x", prefix=prefix) for n in "ab")
    try:
        on_a, on_b = SharedRates(a), SharedRates(b)
        assert await on_a.take("offers:key", "key:k1", 3, 60.0) == 0.0
        assert await on_a.take("offers:key", "key:k1", 3, 60.0) == 0.0
        assert await on_b.take("offers:key", "key:k1", 3, 60.0) == 0.0
        wait = await on_b.take("offers:key", "key:k1", 3, 60.0)
        assert wait == pytest.approx(60.0, abs=2.0)  # the first leaves the window in a minute
        assert await on_a.take("offers:key", "key:k2", 3, 60.0) == 0.0  # another caller
        assert await on_a.take("sessions:key", "key:k1", 3, 60.0) == 0.0  # another limit
        assert await on_a.take("short:key", "key:k1", 1, 0.2) == 0.0
        assert await on_b.take("short:key", "key:k1", 1, 0.2) > 0.0
    finally:
        await a.stop()
        await b.stop()


async def test_redis_unreachable_leaves_the_count_to_the_node(prefix) -> None:
    nowhere = Cluster("redis://127.0.0.1:9/0", node_id="a", node_url="http://x", prefix=prefix)
    try:
        assert await SharedRates(nowhere).take("offers:key", "key:k1", 1, 60.0) is None
    finally:
        await nowhere.stop()


@pytest.mark.e2e
async def test_new_sessions_per_key_are_limited_across_nodes(prefix) -> None:
    settings = {"api_keys": ["sk-cluster"], "sessions_per_minute": 1, "rate_limit_key_factor": 1}
    async with nodes(prefix, "a", "b", **settings) as (a, b):
        async with Client.connect(f"{a.ws}/ws/first", "sk-cluster") as client:
            await client.event("session.created")
        code, reason, _ = await refused(f"{b.ws}/ws/second", "sk-cluster")
        assert code == 1008 and "rate limit: 1 new sessions per 60 s per key" in reason
