"""``voxgate serve --workers 2`` in cluster mode: each worker is a node, reached through the front."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.server.cluster.conftest import REDIS
from tests.server.cluster.test_nodes import live_nodes, postgres  # noqa: F401 - a fixture
from tests.server.test_participants import Client
from voxgate import affinity
from voxgate.bench.server import serve
from voxgate.server.cluster import Cluster

pytestmark = pytest.mark.e2e


def ids_for_each_worker() -> list[str]:
    """Two session ids, the first held by worker 0 of 2, the second by worker 1."""
    found: dict[int, str] = {}
    while len(found) < 2:
        sid = "w_" + uuid.uuid4().hex[:10]
        found.setdefault(affinity.owner(sid, 2), sid)
    return [found[0], found[1]]


async def test_each_worker_is_a_node_and_controls_reach_either(prefix, postgres, tmp_path):  # noqa: F811
    env = {
        "VOXGATE_ENGINE": "loopback",
        "VOXGATE_AGENTS": "none",
        "VOXGATE_DATABASE_URL": postgres,
        "VOXGATE_REDIS_URL": REDIS,
        "VOXGATE_CLUSTER_PREFIX": prefix,
        "VOXGATE_CLUSTER_HEARTBEAT_S": "0.25",
        "VOXGATE_NODE_ID": "box",
        "VOXGATE_SESSION_GRACE_SECONDS": "0",
    }
    log = str(tmp_path / "workers.log")
    with serve("--workers", "2", env=env, timeout=90, log=log) as front:
        async with asyncio.timeout(10):
            while await live_nodes(prefix) != ["box-0", "box-1"]:
                await asyncio.sleep(0.1)
        first, second = ids_for_each_worker()
        probe = Cluster(REDIS, node_id="probe", node_url="http://127.0.0.1:9", prefix=prefix)
        try:
            async with (
                Client.connect(f"{front.ws}/ws/{first}") as one,
                Client.connect(f"{front.ws}/ws/{second}") as two,
            ):
                await one.event("session.created")
                await two.event("session.created")
                holders = [await probe.locate(sid) for sid in (first, second)]
                assert [node.id if node else None for node in holders] == ["box-0", "box-1"]
                async with httpx.AsyncClient(base_url=front.http) as http:
                    for sid in (first, second):  # whichever worker takes the request
                        listed = await http.get(f"/api/sessions/{sid}/participants")
                        assert listed.status_code == 200, listed.text
                        assert len(listed.json()["participants"]) == 1
                    ended = await http.delete(f"/api/sessions/{second}")
                    assert ended.status_code in (200, 204), ended.text
                await two.until(lambda c: c.closed)
                assert one.closed is None
        finally:
            await probe.stop()
