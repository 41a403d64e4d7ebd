"""A live session, a browser-direct call and a background run belong to the user who opened
them: another user can neither join nor see them by id; an admin can (loopback engine)."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import websockets

from tests.server.jwks import hs256
from tests.server.wire import API_KEY, OPEN, Served, bearer, loopback_settings, serve, ws_answer
from voxgate.server.access import SessionRights
from voxgate.server.auth import Grant

pytestmark = pytest.mark.e2e

WORKER = Path(__file__).parents[1] / "agents" / "runs" / "worker.py"
AGENTS = f"""
import sys
from voxgate.agents import Agent, CommandRunner, delegate

slow = CommandRunner("slow_worker", [sys.executable, {str(WORKER)!r}, "{{task}}"],
                     env={{"WORKER_STEPS": "400", "WORKER_DELAY": "0.05"}})
agent = Agent("assistant", "Be brief.", tools=[delegate(slow)])
"""


@pytest_asyncio.fixture(scope="module")
async def server(tmp_path_factory) -> AsyncIterator[tuple[Served, dict[str, str]]]:
    path = tmp_path_factory.mktemp("agents") / "agents.py"
    path.write_text(AGENTS.replace("sys.executable", repr(sys.executable)))
    settings = loopback_settings(
        api_keys=[API_KEY],
        agents=str(path),
        jwt_secret="an-hs256-secret-of-at-least-32-characters",
    )
    async with serve(settings) as served:
        users = served.gateway.users
        keys = {}
        for name, role in (("ann", "user"), ("ben", "user"), ("ada", "admin")):
            keys[name] = (await users.add(name, role))[1]
        yield served, keys


def new_session_id() -> str:
    return "sess_" + uuid.uuid4().hex


async def test_another_user_cannot_join_a_live_session_by_id(server):
    served, keys = server
    sid = new_session_id()
    ws = served.ws
    async with websockets.connect(f"{ws}/ws/{sid}", additional_headers=bearer(keys["ann"])) as ann:
        await ann.recv()  # session.created: live, and ann's
        code, reason = await ws_answer(f"{ws}/ws/{sid}", headers=bearer(keys["ben"]))
        assert code == 1008 and "belongs to whoever opened it" in reason
        assert (
            await ws_answer(f"{ws}/v1/realtime?call_id={sid}", headers=bearer(keys["ben"])) == 403
        )
        async with served.client() as http:
            offer = {"sdp": "v=0", "type": "offer", "session_id": sid}
            r = await http.post("/api/webrtc/offer", json=offer, headers=bearer(keys["ben"]))
            assert r.status_code == 403 and r.json()["error"]["code"] == "session_forbidden"
            body = {"session": {"type": "realtime"}, "session_id": sid}
            r = await http.post(
                "/v1/realtime/client_secrets", json=body, headers=bearer(keys["ben"])
            )
            assert r.status_code == 403  # nor mint itself a ticket for it
            r = await http.post(f"/v1/realtime/calls/{sid}/hangup", headers=bearer(keys["ben"]))
            assert r.status_code == 403
            ticket = (await served.mint(session_id=sid, key=keys["ann"]))["value"]
        # the owner, with another of their credentials, and admins may
        assert await ws_answer(f"{ws}/ws/{sid}?ticket={ticket}") == OPEN
        assert await ws_answer(f"{ws}/ws/{sid}", headers=bearer(keys["ada"])) == OPEN
        assert await ws_answer(f"{ws}/ws/{sid}", headers=bearer(API_KEY)) == OPEN
        assert served.gateway.rights.user_of(sid) == (await served.gateway.users.get("ann")).id


async def test_a_jwt_user_owns_sessions_across_tokens(server):
    served, _ = server
    sid = new_session_id()
    first, second = hs256(sub="jo", role="user", jti="1"), hs256(sub="jo", role="user", jti="2")
    async with websockets.connect(f"{served.ws}/ws/{sid}", additional_headers=bearer(first)) as jo:
        await jo.recv()
        assert await ws_answer(f"{served.ws}/ws/{sid}", headers=bearer(second)) == OPEN
        other = hs256(sub="kim", role="user")
        code, _ = await ws_answer(f"{served.ws}/ws/{sid}", headers=bearer(other))
        assert code == 1008


async def test_runs_are_their_user_s_and_an_admin_s(server):
    served, keys = server
    url = f"{served.ws}/api/runs/slow_worker"
    async with websockets.connect(url, additional_headers=bearer(keys["ann"])) as ws:
        await ws.send(json.dumps({"type": "run", "data": "index"}))
        async with asyncio.timeout(10):
            started = json.loads(await ws.recv())
        assert started["type"] == "started"
        run_id = started["data"]["id"]
        async with served.client() as http:
            listed = (await http.get("/api/runs", headers=bearer(keys["ben"]))).json()["runs"]
            assert run_id not in [r["id"] for r in listed]
            for path in (f"/api/runs/{run_id}", f"/api/runs/{run_id}/cancel"):
                method = http.get if path.endswith(run_id) else http.post
                assert (await method(path, headers=bearer(keys["ben"]))).status_code == 404
            mine = (await http.get("/api/runs", headers=bearer(keys["ann"]))).json()["runs"]
            assert run_id in [r["id"] for r in mine]
            r = await http.post(f"/api/runs/{run_id}/pause", headers=bearer(keys["ann"]))
            assert r.json()["status"] == "paused"
            r = await http.post(f"/api/runs/{run_id}/cancel", headers=bearer(keys["ada"]))
            assert r.json()["status"] == "cancelled"


async def test_a_run_may_be_narrated_only_into_a_session_one_may_join(server):
    served, keys = server
    sid = new_session_id()
    async with websockets.connect(
        f"{served.ws}/ws/{sid}", additional_headers=bearer(keys["ann"])
    ) as ann:
        await ann.recv()
        code, reason = await ws_answer(
            f"{served.ws}/api/runs/slow_worker?session_id={sid}", headers=bearer(keys["ben"])
        )
        assert code == 1008 and "belongs to whoever opened it" in reason


async def test_a_run_a_session_s_tool_starts_is_the_session_owner_s(server):
    served, keys = server
    sid = new_session_id()
    ann_id = (await served.gateway.users.get("ann")).id
    async with websockets.connect(
        f"{served.ws}/ws/{sid}", additional_headers=bearer(keys["ann"])
    ) as ann:
        await ann.recv()
        run = served.gateway.agents.runs.start("slow_worker", "x", session_id=sid)
        try:
            assert run.owner == ann_id
        finally:
            await run.cancel()


def test_session_rights_follow_the_owner_not_the_key():
    from voxgate.session import Session

    rights = SessionRights()
    session = Session("sess_1", engine_factory=lambda: None)  # type: ignore[arg-type,return-value]
    ann = Grant("api_key", key="k1", user_id="usr_ann", role="user")
    ann_other_key = Grant("jwt", key="k2", user_id="usr_ann", role="user")
    ben = Grant("api_key", key="k3", user_id="usr_ben", role="user")
    ben_admin = Grant("api_key", key="k4", user_id="usr_ben", role="admin")
    open_grant = Grant("open", key=None)
    rights.opened(session, ann)
    rights.check(ann_other_key, "sess_1", session)
    rights.check(ben_admin, "sess_1", session)
    with pytest.raises(Exception, match="belongs to whoever opened it"):
        rights.check(ben, "sess_1", session)
    with pytest.raises(Exception, match="belongs to whoever opened it"):
        rights.check(open_grant, "sess_1", session)  # an open server's keyless client is no admin
    ticket = Grant(
        "client_secret", session_id="sess_1", key="t", user_id="usr_ann", role="user", minted_by=ann
    )
    rights.check(ticket, "sess_1", session)
    with pytest.raises(Exception, match="minted for"):
        rights.check(ticket, "sess_2", None)


async def test_a_webrtc_peer_s_session_is_its_user_s(server):
    from voxgate.rtc_client import RtcClient

    served, keys = server
    async with RtcClient(served.http, api_key=keys["ann"]) as ann:
        assert ann.session_id
        owner = served.gateway.rights.user_of(ann.session_id)
        assert owner == (await served.gateway.users.get("ann")).id
        async with served.client() as http:
            offer = {"sdp": "v=0", "type": "offer", "session_id": ann.session_id}
            r = await http.post("/api/webrtc/offer", json=offer, headers=bearer(keys["ben"]))
            assert r.status_code == 403
            r = await http.post("/api/webrtc/offer", json=offer, headers=bearer(keys["ada"]))
            assert r.status_code == 400  # an admin is let in (the SDP is bad)
