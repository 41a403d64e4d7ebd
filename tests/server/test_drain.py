"""Draining a node: no new sessions, its clients told to move, the rest ended after the drain time.

Loopback gateways in this process sharing the real Redis (a key prefix per test) and one store;
``drain`` is called as the SIGTERM handler would (``voxgate serve`` under SIGTERM:
``cluster/test_nodes.py``).
"""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.server.cluster.conftest import nodes, prefix  # noqa: F401  (the fixture)
from tests.server.test_participants import Client
from voxgate.server.cluster.answers import ELSEWHERE_CLOSE_CODE
from voxgate.server.drain import DRAINED_CODE, DRAINING, drain
from voxgate.session import ENDED, ENDED_CLOSE_CODE

pytestmark = pytest.mark.e2e


async def reconnect(urls: list[str], session_id: str) -> Client:
    """Connect to the first of ``urls`` that takes ``session_id`` (as a client told to move
    would: a node still holding it, or draining, is tried again shortly)."""
    async with asyncio.timeout(15):
        while True:
            for base in urls:
                ws = await websockets.connect(f"{base}/ws/{session_id}")
                try:
                    first = json.loads(await ws.recv())
                    if first["type"] == "error":  # held elsewhere: the close follows
                        assert first["error"]["code"] == "session_elsewhere"
                        await ws.recv()
                except ConnectionClosed:
                    assert ws.close_code in (ELSEWHERE_CLOSE_CODE, 1013), ws.close_code
                    continue
                assert first["type"] == "session.created"
                client = Client(ws)
                client.events.append(first)
                return client
            await asyncio.sleep(0.2)


async def test_a_draining_node_moves_its_sessions_and_ends_the_rest(prefix) -> None:  # noqa: F811
    async with nodes(prefix, "a", "b", drain_seconds=2.0, session_grace_seconds=30) as (a, b):
        moving, staying, parked = (f"d_{uuid.uuid4().hex[:10]}" for _ in range(3))
        async with Client.connect(f"{a.ws}/ws/{parked}") as client:
            await client.event("session.created")
        assert a.gateway.registry.get(parked) is not None  # kept for its grace period
        mover = Client(await websockets.connect(f"{a.ws}/ws/{moving}"))
        async with Client.connect(f"{a.ws}/ws/{staying}") as stayer:
            await mover.event("session.created")
            await mover.ws.send(json.dumps({"type": "text", "text": "Remember me."}))
            await mover.event("response.done")
            await stayer.event("session.created")
            draining = asyncio.create_task(drain(a.gateway))
            told = await mover.event(DRAINING)
            assert told["session_id"] == moving and told["seconds"] == 2.0
            assert "connect again" in told["reason"]
            await stayer.event(DRAINING)
            async with asyncio.timeout(5):  # an idle session closes at once
                while a.gateway.registry.get(parked) is not None:
                    await asyncio.sleep(0.05)

            async with httpx.AsyncClient() as http:
                r = await http.post(f"{a.http}/api/webrtc/offer", json={"sdp": "v=0"})
                assert r.status_code == 503 and r.headers["retry-after"] == "2"
                assert r.json()["error"]["code"] == "node_draining"
                assert r.json()["error"]["node_url"] == b.http
                health = await http.get(f"{a.http}/healthz")
                assert health.status_code == 503 and health.json()["status"] == "draining"
            assert b.gateway.cluster is not None
            assert [n.draining for n in await b.gateway.cluster.cluster.nodes()] == [True, False]

            # the mover leaves and comes back through the load balancer (which sends it to b,
            # a's /healthz being 503): b answers that a holds it until a has stored and let it
            # go, then resumes it
            await mover.ws.close()
            moved = await reconnect([b.ws], moving)
            texts = await moved.until(
                lambda c: [
                    e["item"]["content"][0]["text"]
                    for e in c.events
                    if e["type"] == "conversation.item.added"
                ]
            )
            assert texts[0] == "Remember me."
            await moved.ws.close()

            # the stayer is ended once the drain time is up
            ended = await stayer.event(ENDED)
            assert ended["code"] == DRAINED_CODE
            await stayer.until(lambda c: c.closed)
            assert stayer.closed[0] == ENDED_CLOSE_CODE
            await asyncio.wait_for(draining, 10)
        assert len(a.gateway.registry) == 0
