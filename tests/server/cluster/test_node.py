"""A gateway in a cluster: sessions claimed in Redis, found from any node, counted across nodes.

Two or three loopback gateways in this process (``conftest.nodes``), on real sockets, sharing the
real Redis (a key prefix per test) and one store.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import free_port
from tests.server.cluster.conftest import nodes, refused, say
from tests.server.test_participants import Client
from tests.server.wire import Served, bearer
from voxgate.server.cluster.answers import ELSEWHERE_CLOSE_CODE
from voxgate.settings import UsageLimit

pytestmark = pytest.mark.e2e


def new_id() -> str:
    return "c_" + uuid.uuid4().hex[:12]


async def released(node: Served, session_id: str) -> None:
    """Until no other node holds ``session_id`` (as ``node`` sees it)."""
    assert node.gateway.cluster is not None
    async with asyncio.timeout(10):
        while await node.gateway.cluster.elsewhere(session_id) is not None:
            await asyncio.sleep(0.05)


async def test_a_session_live_on_one_node_is_answered_with_its_url_by_the_other(prefix) -> None:
    async with nodes(prefix, "a", "b") as (a, b):
        sid = new_id()
        async with Client.connect(f"{a.ws}/ws/{sid}") as host:
            created = await host.event("session.created")
            code, reason, events = await refused(f"{b.ws}/ws/{sid}")
            assert code == ELSEWHERE_CLOSE_CODE
            assert json.loads(reason) == {"node_url": a.http}
            error = events[0]["error"]
            assert error["code"] == "session_elsewhere"
            assert (error["node_url"], error["node_id"]) == (a.http, "a")
            # the URL it names is where the session is: a second client there joins it
            there = json.loads(reason)["node_url"].replace("http", "ws", 1)
            async with Client.connect(f"{there}/ws/{sid}") as guest:
                joined = await guest.event("session.created")
                assert joined["session"]["id"] == created["session"]["id"]
            async with b.client() as http:
                offer = {"sdp": "v=0", "type": "offer", "session_id": sid}
                r = await http.post("/api/webrtc/offer", json=offer)
                assert r.status_code == 409, r.text
                assert r.json()["error"]["code"] == "session_elsewhere"
                assert r.json()["error"]["node_url"] == a.http
            with pytest.raises(InvalidStatus) as denied:
                async with websockets.connect(f"{b.ws}/v1/realtime?call_id={sid}"):
                    pass
            assert denied.value.response.status_code == 409
            assert json.loads(denied.value.response.body)["error"]["node_url"] == a.http
            assert len(b.gateway.registry) == 0  # never opened there


async def test_a_closed_session_is_taken_up_by_another_node_from_the_store(prefix) -> None:
    async with nodes(prefix, "a", "b") as (a, b):
        sid = new_id()
        async with Client.connect(f"{a.ws}/ws/{sid}") as first:
            await first.event("session.created")
            await say(first, "My name is Sarah.")
        await released(b, sid)
        async with Client.connect(f"{b.ws}/ws/{sid}") as second:
            await second.event("session.created")
            restored = await second.until(
                lambda c: [
                    e["item"]["content"][0]["text"]
                    for e in c.events
                    if e["type"] == "conversation.item.added"
                ][:2]
            )
            assert restored == ["My name is Sarah.", "My name is Sarah."]
            assert b.gateway.cluster is not None and a.gateway.cluster is not None
            assert (await a.gateway.cluster.elsewhere(sid)).id == "b"


async def test_one_session_id_opened_on_two_nodes_at_once_lives_on_one(prefix) -> None:
    async with nodes(prefix, "a", "b", "c") as served:
        for _ in range(5):
            sid = new_id()

            async def first_answer(node: Served, sid: str) -> int | str:
                async with websockets.connect(f"{node.ws}/ws/{sid}") as ws:
                    try:
                        async with asyncio.timeout(10):
                            while True:
                                ev = json.loads(await ws.recv())
                                if ev["type"] == "session.created":
                                    await asyncio.sleep(0.3)  # all three have answered
                                    return "created"
                    except ConnectionClosed:
                        assert ws.close_code is not None
                        return ws.close_code

            answers = await asyncio.gather(*(first_answer(n, sid) for n in served))
            assert sorted(answers, key=str) == sorted(
                ["created", ELSEWHERE_CLOSE_CODE, ELSEWHERE_CLOSE_CODE], key=str
            )
            assert sum(len(n.gateway.registry) for n in served) <= 1


async def test_sessions_at_once_are_counted_across_nodes(prefix) -> None:
    limits = {"user": UsageLimit(concurrent_sessions=1)}
    async with nodes(prefix, "a", "b", usage_limits=limits) as (a, b):
        assert a.gateway.users is not None
        _, key = await a.gateway.users.add("lena-" + uuid.uuid4().hex[:6], "user")
        first = new_id()
        async with Client.connect(f"{a.ws}/ws/{first}", key) as client:
            await client.event("session.created")
            code, reason, _ = await refused(f"{b.ws}/ws/{new_id()}", key)
            assert code == 1008 and "1 of your sessions are live" in reason
        await released(b, first)
        async with Client.connect(f"{b.ws}/ws/{new_id()}", key) as client:
            await client.event("session.created")


async def test_a_node_serves_its_own_sessions_while_redis_is_unreachable(prefix) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    async with nodes(prefix, "a", redis_url=nowhere) as (a,):
        async with Client.connect(f"{a.ws}/ws/{new_id()}") as client:
            await client.event("session.created")
            await say(client, "Still here.")
        async with httpx.AsyncClient() as http:
            health = (await http.get(f"{a.http}/healthz")).json()
        assert health["status"] == "ok" and health["node"] == {"id": "a", "url": a.http}


async def test_a_ticket_minted_on_one_node_opens_its_session_on_another(prefix) -> None:
    async with nodes(prefix, "a", "b") as (a, b):
        assert a.gateway.users is not None
        _, key = await a.gateway.users.add("mia-" + uuid.uuid4().hex[:6], "user")
        sid = new_id()
        async with a.client() as http:
            r = await http.post(
                "/v1/realtime/client_secrets",
                json={"session": {"type": "realtime"}, "session_id": sid},
                headers=bearer(key),
            )
        assert r.status_code == 200, r.text
        ticket = r.json()["value"]
        async with Client.connect(f"{b.ws}/ws/{sid}?ticket={ticket}") as client:
            await client.event("session.created")
            assert b.gateway.registry.get(sid) is not None
            # on a, where it was minted, the ticket is told where its session is
            code, reason, _ = await refused(f"{a.ws}/ws/{sid}?ticket={ticket}")
            assert code == ELSEWHERE_CLOSE_CODE and json.loads(reason) == {"node_url": b.http}
        code, reason, _ = await refused(f"{b.ws}/ws/{sid}?ticket=ek_made_up")
        assert code == 1008 and "unknown or has expired" in reason
