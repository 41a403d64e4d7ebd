"""Three ``voxgate serve`` processes (loopback engine) sharing the real Redis and Postgres.

Each test has a key prefix and a Postgres database of its own; the nodes are real processes on
127.0.0.1 (``voxgate.bench.server.serve``), killed, drained or cut off from a Redis of the
test's own as the test needs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.server.cluster.conftest import REDIS, RedisServer, refused, say
from tests.server.test_participants import LEFT, Client
from tests.server.wire import bearer
from tests.store.conftest import create_postgres_database, drop_postgres_database
from voxgate.bench.server import Served, serve
from voxgate.server.cluster import Cluster
from voxgate.server.cluster.answers import ELSEWHERE_CLOSE_CODE
from voxgate.server.drain import DRAINED_CODE, DRAINING
from voxgate.session import ENDED, ENDED_CLOSE_CODE
from voxgate.session.participants import REMOVED_CLOSE_CODE
from voxgate.store import Database
from voxgate.store.users import Users

pytestmark = pytest.mark.e2e

NAMES = ("a", "b", "c")


@pytest.fixture
async def postgres() -> AsyncIterator[str]:
    """A Postgres database of the test's own (skipped without Postgres, failed in CI)."""
    url = await create_postgres_database()
    if url is None:
        if os.environ.get("VOXGATE_CI"):
            pytest.fail("CI runs the cluster tests against Postgres on 127.0.0.1:5432")
        pytest.skip("Postgres is not running on 127.0.0.1:5432")
    try:
        yield url
    finally:
        await drop_postgres_database(url)


async def user_keys(database_url: str, *names: str) -> list[str]:
    """Keys of new users of role ``user`` in the store the nodes share."""
    database = await Database.open(database_url)
    try:
        users = Users(database)
        return [(await users.add(name, "user"))[1] for name in names]
    finally:
        await database.close()


@contextlib.asynccontextmanager
async def cluster(
    prefix: str, database_url: str, logs: Path, *, redis_url: str = REDIS, **settings: object
) -> AsyncIterator[list[Served]]:
    """Nodes ``a``, ``b``, ``c`` started together; heartbeats every 0.25 s, dead after 2 s."""
    env = {
        "VOXGATE_ENGINE": "loopback",
        "VOXGATE_AGENTS": "none",
        "VOXGATE_DATABASE_URL": database_url,
        "VOXGATE_REDIS_URL": redis_url,
        "VOXGATE_CLUSTER_PREFIX": prefix,
        "VOXGATE_CLUSTER_HEARTBEAT_S": "0.25",
        "VOXGATE_CLUSTER_NODE_TTL_S": "2.0",
        "VOXGATE_SESSION_GRACE_SECONDS": "0",
        "VOXGATE_DRAIN_SECONDS": "3",
        **{f"VOXGATE_{k.upper()}": str(v) for k, v in settings.items()},
    }
    starting = [
        serve(env={**env, "VOXGATE_NODE_ID": name}, timeout=60, log=str(logs / f"{name}.log"))
        for name in NAMES
    ]
    with contextlib.ExitStack() as stack, concurrent.futures.ThreadPoolExecutor() as pool:
        futures = [pool.submit(node.__enter__) for node in starting]
        for node, future in zip(starting, futures, strict=True):
            if future.exception() is None:
                stack.push(node.__exit__)
        yield [future.result() for future in futures]


async def reconnect(node: Served, session_id: str, key: str | None = None) -> Client:
    """A client of ``session_id`` on ``node``, once no other node holds it (tried again)."""
    async with asyncio.timeout(15):
        while True:
            socket = await websockets.connect(
                f"{node.ws}/ws/{session_id}", additional_headers=bearer(key)
            )
            try:
                first = json.loads(await socket.recv())
                if first["type"] == "session.created":
                    client = Client(socket)
                    client.events.append(first)
                    return client
                await socket.recv()  # an error before the close: held elsewhere
            except ConnectionClosed:
                assert socket.close_code in (ELSEWHERE_CLOSE_CODE, 1008), socket.close_reason
            await asyncio.sleep(0.2)


def restored_texts(client: Client) -> list[str]:
    return [
        e["item"]["content"][0]["text"]
        for e in client.events
        if e["type"] == "conversation.item.added"
    ]


async def live_nodes(prefix: str, redis_url: str = REDIS) -> list[str]:
    """The ids of the nodes registered in the cluster."""
    probe = Cluster(redis_url, node_id="probe", node_url="http://127.0.0.1:9", prefix=prefix)
    try:
        return [node.id for node in await probe.nodes()]
    finally:
        await probe.stop()


async def test_sessions_controls_and_a_usage_limit_span_three_nodes(
    prefix, postgres, tmp_path
) -> None:
    (lena,) = await user_keys(postgres, "lena")
    limits = json.dumps({"user": {"concurrent_sessions": 1}})
    async with cluster(prefix, postgres, tmp_path, usage_limits=limits) as (a, b, c):
        sid = "n_" + uuid.uuid4().hex[:10]
        async with Client.connect(f"{a.ws}/ws/{sid}", lena) as host:
            await host.me()
            code, reason, _ = await refused(f"{b.ws}/ws/{sid}", lena)
            assert code == ELSEWHERE_CLOSE_CODE and json.loads(reason) == {"node_url": a.http}
            there = json.loads(reason)["node_url"].replace("http", "ws", 1)
            async with Client.connect(f"{there}/ws/{sid}?role=listener", lena) as guest:
                guest_id = await guest.me()
                async with httpx.AsyncClient(base_url=c.http, headers=bearer(lena)) as http:
                    r = await http.delete(f"/api/sessions/{sid}/participants/{guest_id}")
                    assert r.status_code == 200 and r.json()["removed"] is True
                await guest.until(lambda cl: cl.closed)
                assert guest.closed[0] == REMOVED_CLOSE_CODE
                assert (await host.event(LEFT))["participant"]["id"] == guest_id

            # lena may have one session at once, wherever she opens the next
            code, reason, _ = await refused(f"{b.ws}/ws/other-{sid}", lena)
            assert code == 1008 and "1 of your sessions are live" in reason
            async with httpx.AsyncClient(base_url=c.http, headers=bearer(lena)) as http:
                offer = {"sdp": "v=0", "type": "offer", "session_id": f"more-{sid}"}
                r = await http.post("/api/webrtc/offer", json=offer)
                assert r.status_code == 429 and r.json()["error"]["code"] == "usage_limit_reached"
        later = await reconnect(c, f"other-{sid}", lena)  # hers ended on a: c takes a new one
        await later.ws.close()


async def test_minutes_spent_on_one_node_count_on_the_others(prefix, postgres, tmp_path) -> None:
    (lena,) = await user_keys(postgres, "lena")
    limits = json.dumps({"user": {"minutes_per_day": 0.05}})  # 3 s; written every 5 s
    async with cluster(prefix, postgres, tmp_path, usage_limits=limits) as (a, b, c):
        async with Client.connect(f"{a.ws}/ws/spend-{uuid.uuid4().hex[:8]}", lena) as client:
            await client.event("session.created")
            reached = await client.until(
                lambda cl: next(
                    (e for e in cl.events if e["type"] == "voxgate.usage.limit_reached"), None
                )
            )
            assert "today's 0.05 minutes of voice are used up" in reached["reason"]
        for node in (b, c):
            code, reason, _ = await refused(f"{node.ws}/ws/more-{uuid.uuid4().hex[:8]}", lena)
            assert code == 1008 and "used up" in reason


async def test_a_killed_nodes_sessions_are_freed_and_resume_elsewhere(
    prefix, postgres, tmp_path
) -> None:
    (lena,) = await user_keys(postgres, "lena")
    limits = json.dumps({"user": {"concurrent_sessions": 1}})
    async with cluster(prefix, postgres, tmp_path, usage_limits=limits) as (a, b, c):
        sid = "k_" + uuid.uuid4().hex[:10]
        async with Client.connect(f"{a.ws}/ws/{sid}", lena) as client:
            await client.event("session.created")
            await say(client, "My name is Sarah.")
            await asyncio.sleep(1.0)  # the store has it (written every 0.5 s)
            assert a.process is not None
            a.process.send_signal(signal.SIGKILL)
            a.process.wait(10)
            await client.until(lambda cl: cl.closed)
        # her session on a no longer counts once a is reaped: a new one on b is let in
        other = await reconnect(b, f"new-{sid}", lena)
        await other.ws.close()
        # and the one she had resumes on c, from the store
        resumed = await reconnect(c, sid, lena)
        await resumed.until(lambda cl: len(restored_texts(cl)) >= 2)
        assert restored_texts(resumed)[:2] == ["My name is Sarah.", "My name is Sarah."]
        await say(resumed, "I am back.")
        await resumed.ws.close()
        assert await live_nodes(prefix) == ["b", "c"]


async def test_sigterm_drains_a_node_which_then_exits_0(prefix, postgres, tmp_path) -> None:
    async with cluster(prefix, postgres, tmp_path, drain_seconds=3) as (a, b, c):
        moving, staying = ("t_" + uuid.uuid4().hex[:10] for _ in range(2))
        mover = await reconnect(a, moving)
        await say(mover, "Remember me.")
        async with Client.connect(f"{a.ws}/ws/{staying}") as stayer:
            await stayer.event("session.created")
            assert a.process is not None
            a.process.send_signal(signal.SIGTERM)
            told = await mover.event(DRAINING)
            assert told["seconds"] == 3
            async with httpx.AsyncClient() as http:
                health = await http.get(f"{a.http}/healthz")
                assert health.status_code == 503 and health.json()["status"] == "draining"
                r = await http.post(f"{a.http}/api/webrtc/offer", json={"sdp": "v=0"})
                assert r.status_code == 503 and "retry-after" in r.headers
                assert r.json()["error"]["node_url"] in (b.http, c.http)
            await mover.ws.close()
            moved = await reconnect(b, moving)
            await moved.until(lambda cl: restored_texts(cl))
            assert restored_texts(moved)[0] == "Remember me."
            await moved.ws.close()
            ended = await stayer.event(ENDED)
            assert ended["code"] == DRAINED_CODE
            await stayer.until(lambda cl: cl.closed)
            assert stayer.closed[0] == ENDED_CLOSE_CODE
        assert await asyncio.to_thread(a.process.wait, 20) == 0
        assert await live_nodes(prefix) == ["b", "c"]  # it left as it went


async def test_the_nodes_come_back_after_redis_restarts(
    prefix, postgres, tmp_path, own_redis: RedisServer
) -> None:
    own_redis.start()
    async with cluster(prefix, postgres, tmp_path, redis_url=own_redis.url) as (a, b, c):
        sid = "r_" + uuid.uuid4().hex[:10]
        async with Client.connect(f"{a.ws}/ws/{sid}") as host:
            await host.event("session.created")
            own_redis.stop()
            await say(host, "Redis is down.")  # a serves its own session meanwhile
            await asyncio.sleep(1.0)  # a few heartbeats fail
            await say(host, "Still down.")
            own_redis.start()  # empty: it kept nothing
            async with asyncio.timeout(20), httpx.AsyncClient() as http:
                while True:  # a registered itself and its session again; c asks it
                    r = await http.get(f"{c.http}/api/sessions/{sid}/participants")
                    if r.status_code == 200:
                        break
                    await asyncio.sleep(0.2)
            assert [p["id"] for p in r.json()["participants"]] == [await host.me()]
            code, reason, _ = await refused(f"{b.ws}/ws/{sid}")
            assert code == ELSEWHERE_CLOSE_CODE and json.loads(reason) == {"node_url": a.http}
            fresh = await reconnect(b, "fresh-" + sid)
            await say(fresh, "Hello from b.")
            await fresh.ws.close()
