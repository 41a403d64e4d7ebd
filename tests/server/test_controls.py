"""A host's controls through any node of a cluster: the node holding the session runs them.

Loopback gateways in this process sharing the real Redis (a key prefix per test) and one store;
clients on real sockets. (One node's participants API: ``test_participants.py``.)
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.server.cluster.conftest import REDIS, nodes, prefix  # noqa: F401  (the fixture)
from tests.server.test_participants import LEFT, Client
from tests.server.wire import bearer
from voxgate.rtc_client import RtcClient
from voxgate.server.cluster import Cluster
from voxgate.session import ENDED, ENDED_CLOSE_CODE
from voxgate.session.participants import REMOVED_CLOSE_CODE

pytestmark = pytest.mark.e2e


def new_id() -> str:
    return "k_" + uuid.uuid4().hex[:12]


async def test_participants_are_listed_muted_and_removed_through_another_node(prefix) -> None:  # noqa: F811
    async with nodes(prefix, "a", "b") as (a, b):
        sid = new_id()
        async with (
            Client.connect(f"{a.ws}/ws/{sid}") as host,
            Client.connect(f"{a.ws}/ws/{sid}?role=listener") as guest,
        ):
            host_id, guest_id = await host.me(), await guest.me()
            await host.joined(lambda p: p["id"] == guest_id)
            base = f"/api/sessions/{sid}/participants"
            async with b.client() as http:
                listed = (await http.get(base)).json()
                assert [p["id"] for p in listed["participants"]] == [host_id, guest_id]
                r = await http.post(f"{base}/{host_id}/mute", json={"muted": True})
                assert r.status_code == 200 and r.json()["muted"] is True
                assert a.gateway.registry.get(sid).members[host_id].muted  # type: ignore[union-attr]
                r = await http.post(f"{base}/nobody/mute", json={"muted": True})
                assert r.status_code == 404
                assert r.json()["error"]["code"] == "participant_not_found"
                assert host_id in r.json()["error"]["message"]  # who is present, from a
                r = await http.post(f"{base}/{host_id}/mute", json={"muted": "loud"})
                assert r.status_code == 422  # b checks the body before asking a
                r = await http.delete(f"{base}/{guest_id}")
                assert r.status_code == 200 and r.json()["removed"] is True
            await guest.until(lambda c: c.closed)
            assert guest.closed[0] == REMOVED_CLOSE_CODE
            left = await host.event(LEFT)
            assert left["participant"]["id"] == guest_id and left["reason"] == "removed"


async def test_a_session_is_ended_through_another_node(prefix) -> None:  # noqa: F811
    async with nodes(prefix, "a", "b", "c") as (a, b, c):
        sid = new_id()
        async with Client.connect(f"{a.ws}/ws/{sid}") as client:
            await client.event("session.created")
            async with c.client() as http:
                r = await http.delete(f"/api/sessions/{sid}")
                assert r.status_code == 200 and r.json() == {"session_id": sid, "ended": True}
            ended = await client.event(ENDED)
            assert ended["code"] == "ended_by_host"
            await client.until(lambda c: c.closed)
            assert client.closed[0] == ENDED_CLOSE_CODE
        async with b.client() as http:
            r = await http.delete(f"/api/sessions/{sid}")
            assert r.status_code == 404 and r.json()["error"]["code"] == "session_not_found"


async def test_a_call_is_hung_up_through_another_node(prefix) -> None:  # noqa: F811
    async with nodes(prefix, "a", "b") as (a, b), RtcClient(a.http) as peer:
        await peer.wait_for("session.created")
        async with b.client() as http:
            r = await http.post(f"/v1/realtime/calls/{peer.session_id}/hangup")
            assert r.status_code == 200, r.text
        async with asyncio.timeout(10):
            while peer.pc.connectionState not in ("closed", "failed"):
                await asyncio.sleep(0.05)
            while len(a.gateway.registry):
                await asyncio.sleep(0.05)
        async with b.client() as http:
            r = await http.post(f"/v1/realtime/calls/{peer.session_id}/hangup")
            assert r.status_code == 404


async def test_the_holder_checks_the_callers_right_to_the_session(prefix) -> None:  # noqa: F811
    async with nodes(prefix, "a", "b") as (a, b):
        assert a.gateway.users is not None
        tag = uuid.uuid4().hex[:6]
        _, lena = await a.gateway.users.add(f"lena-{tag}", "user")
        _, otto = await a.gateway.users.add(f"otto-{tag}", "user")
        sid = new_id()
        async with Client.connect(f"{a.ws}/ws/{sid}", lena) as client:
            me = await client.me()
            base = f"/api/sessions/{sid}/participants"
            async with b.client() as http:
                r = await http.delete(f"{base}/{me}", headers=bearer(otto))
                assert r.status_code == 403 and r.json()["error"]["code"] == "session_forbidden"
                r = await http.get(base, headers=bearer(lena))
                assert r.status_code == 200 and r.json()["participants"][0]["id"] == me


async def test_a_holder_that_does_not_answer_is_a_504(prefix) -> None:  # noqa: F811
    async with nodes(prefix, "b", cluster_command_timeout_s=0.5) as (b,):
        mute = Cluster(REDIS, node_id="mute", node_url="http://127.0.0.1:9", prefix=prefix)
        await mute.start()  # a live node that never answers a command
        try:
            await mute.claim("held-by-mute")
            async with b.client() as http:
                r = await http.get("/api/sessions/held-by-mute/participants")
            assert r.status_code == 504
            error = r.json()["error"]
            assert (
                error["code"] == "node_timeout"
                and "did not answer within 0.5 s" in error["message"]
            )
        finally:
            await mute.stop()
