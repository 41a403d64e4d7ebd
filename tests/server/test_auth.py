"""Keys on every route and transport: no key, a wrong key, an API key, an ephemeral key for the
session, one for another session, an expired one (loopback engine: the model does not matter)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import websockets

from tests.server.wire import (
    API_KEY,
    OPEN,
    Served,
    bearer,
    key_protocols,
    loopback_settings,
    serve,
    ws_answer,
)
from voxgate.server.auth import Grant, grant_from_wire, grant_to_wire

pytestmark = pytest.mark.e2e

OK = "ok"
CREDENTIALS = ["none", "wrong", "api_key", "own", "other", "expired"]
SESSION_RIGHTS = {"none": 401, "wrong": 401, "api_key": OK, "own": OK, "other": 403, "expired": 401}
"""A route that names a session: only an API key or that session's ephemeral key."""
ANY_KEY = {**SESSION_RIGHTS, "other": OK}
"""A route that opens the key's own session (or names none): any valid key."""
ADMIN = {**SESSION_RIGHTS, "own": 403}
"""A route for API keys only."""


@pytest_asyncio.fixture(scope="module")
async def server() -> AsyncIterator[Served]:
    settings = loopback_settings(
        api_keys=[API_KEY],
        direct_mode_enabled=True,
        openai_api_key="sk-upstream-unused",
        openai_base_url="http://127.0.0.1:9/v1",
    )
    async with serve(settings) as served:
        yield served


async def credentials(server: Served, session_id: str) -> dict[str, str | None]:
    """Each kind of credential, the ephemeral ones minted for ``session_id`` (or another)."""
    own = (await server.mint(session_id=session_id))["value"]
    other = (await server.mint())["value"]
    expired = (await server.mint(session_id=session_id, seconds=10))["value"]
    server.clock.now += 11
    return {
        "none": None,
        "wrong": "sk-wrong",
        "api_key": API_KEY,
        "own": own,
        "other": other,
        "expired": expired,
    }


def new_session_id() -> str:
    return "sess_" + uuid.uuid4().hex


def assert_ws(answer: Any, expected: Any) -> None:
    if expected == OK:
        assert answer == OPEN
    else:
        code, reason = answer
        assert code == 1008 and reason, answer


def assert_http(status: int, expected: Any, served: int) -> None:
    assert status == (served if expected == OK else expected)


def ws_key(cred: str, key: str | None) -> dict[str, Any]:
    """An API key (or a wrong one) as a header; an ephemeral key as the browser's subprotocol."""
    if cred in ("own", "other", "expired"):
        return {"subprotocols": key_protocols(key)}
    return {"headers": bearer(key)}


@pytest.mark.parametrize("cred", CREDENTIALS)
async def test_session_socket(server, cred):
    session_id = new_session_id()
    key = (await credentials(server, session_id))[cred]
    answer = await ws_answer(f"{server.ws}/ws/{session_id}", **ws_key(cred, key))
    assert_ws(answer, SESSION_RIGHTS[cred])


async def test_session_socket_takes_either_key_either_way(server):
    session_id = new_session_id()
    own = (await server.mint(session_id=session_id))["value"]
    url = f"{server.ws}/ws/{session_id}"
    assert await ws_answer(url, headers=bearer(own)) == OPEN
    assert await ws_answer(url, subprotocols=key_protocols(API_KEY)) == OPEN


@pytest.mark.parametrize("cred", CREDENTIALS)
async def test_realtime_new_session(server, cred):
    session_id = new_session_id()
    key = (await credentials(server, session_id))[cred]
    answer = await ws_answer(f"{server.ws}/v1/realtime?model=m", **ws_key(cred, key))
    if ANY_KEY[cred] == OK:
        assert answer == OPEN
    else:
        assert answer == ANY_KEY[cred]


async def test_an_ephemeral_key_opens_the_session_it_was_minted_for(server):
    session_id = new_session_id()
    own = (await server.mint(session_id=session_id))["value"]
    async with websockets.connect(
        f"{server.ws}/v1/realtime?model=m", subprotocols=key_protocols(own)
    ) as ws:
        await ws.recv()  # session.created
        assert server.gateway.registry.get(session_id) is not None


@pytest.mark.parametrize("cred", CREDENTIALS)
async def test_realtime_call_id_joins_only_with_the_right(server, cred):
    session_id = new_session_id()
    key = (await credentials(server, session_id))[cred]
    async with websockets.connect(
        f"{server.ws}/ws/{session_id}", additional_headers=bearer(API_KEY)
    ) as holder:
        await holder.send("not json")
        await holder.recv()  # the session is live
        answer = await ws_answer(
            f"{server.ws}/v1/realtime?call_id={session_id}", **ws_key(cred, key)
        )
    if SESSION_RIGHTS[cred] == OK:
        assert answer == OPEN
    else:
        assert answer == SESSION_RIGHTS[cred]


@pytest.mark.parametrize("cred", CREDENTIALS)
async def test_webrtc_offer(server, cred):
    session_id = new_session_id()
    key = (await credentials(server, session_id))[cred]
    offer = {"sdp": "v=0", "type": "offer", "session_id": session_id}
    async with server.client() as http:
        r = await http.post("/api/webrtc/offer", json=offer, headers=bearer(key))
    assert_http(r.status_code, SESSION_RIGHTS[cred], 400)  # 400: let in, the SDP is bad


@pytest.mark.parametrize("cred", CREDENTIALS)
async def test_calls_and_hangup(server, cred):
    session_id = new_session_id()
    key = (await credentials(server, session_id))[cred]
    sdp = {**bearer(key), "Content-Type": "application/sdp"}
    async with server.client() as http:
        r = await http.post("/v1/realtime/calls", content="v=0", headers=sdp)
        assert_http(r.status_code, ANY_KEY[cred], 400)
        r = await http.post(f"/v1/realtime/calls/{session_id}/hangup", headers=bearer(key))
        assert_http(r.status_code, SESSION_RIGHTS[cred], 404)  # 404: let in, no such call


@pytest.mark.parametrize("cred", CREDENTIALS)
async def test_runs_over_http_and_websocket(server, cred):
    key = (await credentials(server, new_session_id()))[cred]
    async with server.client() as http:
        r = await http.get("/api/runs", headers=bearer(key))
    assert_http(r.status_code, ADMIN[cred], 200)
    answer = await ws_answer(f"{server.ws}/api/runs/worker", **ws_key(cred, key))
    assert_ws(answer, ADMIN[cred])


@pytest.mark.parametrize("cred", CREDENTIALS)
async def test_docs_schema_metrics_and_client_secrets(server, cred):
    key = (await credentials(server, new_session_id()))[cred]
    async with server.client() as http:
        for path in ("/docs", "/openapi.json", "/metrics"):
            r = await http.get(path, headers=bearer(key))
            assert_http(r.status_code, ADMIN[cred], 200)
        body = {"session": {"type": "realtime"}}
        r = await http.post("/v1/realtime/client_secrets", json=body, headers=bearer(key))
        assert_http(r.status_code, ADMIN[cred], 200)
        r = await http.get("/api/client-config", headers=bearer(key))
        assert_http(r.status_code, ANY_KEY[cred], 200)


@pytest.mark.parametrize("cred", CREDENTIALS)
async def test_browser_direct_routes(server, cred):
    session_id = new_session_id()
    key = (await credentials(server, session_id))[cred]
    turn = {"call_id": session_id, "entries": [{"role": "user", "text": "Hello."}]}
    async with server.client() as http:
        r = await http.get(f"/api/realtime/transcripts/{session_id}", headers=bearer(key))
        assert_http(r.status_code, SESSION_RIGHTS[cred], 404)  # none kept yet
        r = await http.post("/api/realtime/transcripts", json=turn, headers=bearer(key))
        assert_http(r.status_code, SESSION_RIGHTS[cred], 201)
        if ADMIN[cred] != OK:  # (an API key would reach for the upstream)
            r = await http.post("/api/realtime/client-secret", headers=bearer(key))
            assert r.status_code == ADMIN[cred]
            offer = {"sdp": "v=0", "type": "offer"}
            r = await http.post("/api/realtime/webrtc-offer", json=offer, headers=bearer(key))
            assert r.status_code == ADMIN[cred]


@pytest.mark.parametrize("cred", CREDENTIALS)
async def test_record_and_send_routes(server, cred):
    session_id = new_session_id()
    key = (await credentials(server, session_id))[cred]
    garbage = {"file": ("clip.webm", b"not audio", "audio/webm")}
    async with server.client() as http:
        # let in: the clip is garbage (415), the engine loopback has no model (503)
        r = await http.post("/api/voice/transcribe", files=garbage, headers=bearer(key))
        assert_http(r.status_code, ANY_KEY[cred], 415)
        r = await http.post(
            "/api/voice/turn",
            files=garbage,
            data={"conversation_id": session_id},
            headers=bearer(key),
        )
        assert_http(r.status_code, SESSION_RIGHTS[cred], 415)
        chat = {"text": "Hello.", "conversation_id": session_id}
        r = await http.post("/api/voice/chat", json=chat, headers=bearer(key))
        assert_http(r.status_code, SESSION_RIGHTS[cred], 503)
        speech = {"text": "Hello.", "voice": "nobody"}
        r = await http.post("/api/voice/tts", json=speech, headers=bearer(key))
        assert_http(r.status_code, ANY_KEY[cred], 400)


async def test_the_page_and_healthz_need_no_key(server):
    async with server.client() as http:
        for path in ("/", "/healthz", "/static/app.js", "/static/js/auth.js"):
            assert (await http.get(path)).status_code == 200, path
        r = await http.get("/api/client-config")
        assert r.status_code == 401 and "Bearer" in r.json()["error"]["message"]


async def test_refusals_say_why(server):
    session_id = new_session_id()
    other = (await server.mint())["value"]
    code, reason = await ws_answer(f"{server.ws}/ws/{session_id}")
    assert (code, reason.startswith("missing API key")) == (1008, True)
    code, reason = await ws_answer(
        f"{server.ws}/ws/{session_id}", subprotocols=key_protocols(other)
    )
    assert code == 1008 and "ephemeral key opens only the session it was minted for" in reason
    async with server.client() as http:
        r = await http.get("/api/runs", headers=bearer(other))
        assert r.json()["error"]["code"] == "insufficient_permissions"


async def test_a_call_by_ephemeral_key_is_its_session_and_only_its_key_hangs_it_up(server):
    from voxgate.rtc_client import RtcClient

    mine, theirs = await server.mint(), await server.mint()
    async with RtcClient(server.http, mode="calls", api_key=mine["value"]) as call:
        assert call.session_id == mine["session"]["id"]
        async with server.client() as http:
            hangup = f"/v1/realtime/calls/{call.session_id}/hangup"
            assert (await http.post(hangup, headers=bearer(theirs["value"]))).status_code == 403
            assert (await http.post(hangup)).status_code == 401
            assert server.gateway.peers.in_session(call.session_id)
            assert (await http.post(hangup, headers=bearer(mine["value"]))).status_code == 200


async def test_server_issued_session_ids_are_unguessable(server):
    from voxgate.rtc_client import RtcClient

    unguessable = re.compile(r"^sess_[A-Za-z0-9]{22}$")
    async with RtcClient(server.http, api_key=API_KEY) as peer:
        assert peer.session_id and unguessable.match(peer.session_id)
    minted = await server.mint()
    assert unguessable.match(minted["session"]["id"])


async def test_keyless_clients_cannot_join_a_session_opened_with_a_key_when_the_server_is_open():
    async with serve(loopback_settings()) as server:
        secret = await server.mint(
            key=None, session={"type": "realtime", "instructions": "Secret."}
        )
        session_id = secret["session"]["id"]
        async with websockets.connect(
            f"{server.ws}/v1/realtime?model=m", subprotocols=key_protocols(secret["value"])
        ) as caller:
            await caller.recv()  # session.created: the session is live
            code, _ = await ws_answer(f"{server.ws}/ws/{session_id}")
            assert code == 1008
            assert await ws_answer(f"{server.ws}/v1/realtime?call_id={session_id}") == 403
            async with server.client() as http:
                offer = {"sdp": "v=0", "type": "offer", "session_id": session_id}
                assert (await http.post("/api/webrtc/offer", json=offer)).status_code == 403
                r = await http.post(f"/v1/realtime/calls/{session_id}/hangup")
                assert r.status_code == 403
                body = {"session": {"type": "realtime"}, "session_id": session_id}
                r = await http.post("/v1/realtime/client_secrets", json=body)
                assert r.status_code == 403  # nor mint itself a key for it
        # the open default: a client-chosen /ws id works without a key
        assert await ws_answer(f"{server.ws}/ws/{new_session_id()}") == OPEN
        async with server.client() as http:
            assert (await http.get("/docs")).status_code == 200
            config = (await http.get("/api/client-config")).json()
            assert config["auth"] == {"required": False}


def test_a_grant_crosses_to_another_node_whole_but_its_ticket_configuration() -> None:
    minter = Grant("api_key", key="k1", user_id="u1", role="user")
    ticket = Grant(
        "client_secret", session={"instructions": "x"}, session_id="s1", minted_by=minter
    )
    assert grant_from_wire(grant_to_wire(ticket)) == Grant(
        "client_secret", session_id="s1", minted_by=minter
    )
