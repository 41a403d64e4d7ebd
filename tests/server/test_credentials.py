"""The auth matrix: every kind of credential, good and bad, on every route and transport of a
server that requires one (store users of each role, a configured key, HS256 JWTs, RS256 / ES256
JWTs from a JWKS served on 127.0.0.1, tickets), loopback engine."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from tests.server.jwks import AUDIENCE, Issuer, hs256, jwks_server
from tests.server.wire import API_KEY, OPEN, Served, bearer, loopback_settings, serve, ws_answer

pytestmark = pytest.mark.e2e

ROLE_GROUPS = {
    "admin": {"any", "live", "history", "runs", "docs", "users"},
    "user": {"any", "live", "history", "runs", "docs"},
    "viewer": {"any", "history"},
}
HTTP_ROUTES = [
    # name, method, path, route group, what a caller let in gets
    ("client-config", "GET", "/api/client-config", "any", 200),
    ("me", "GET", "/api/me", "any", 200),
    ("users", "GET", "/api/users", "users", 200),
    ("runs", "GET", "/api/runs", "runs", 200),
    ("docs", "GET", "/openapi.json", "docs", 200),
    ("mint", "POST", "/v1/realtime/client_secrets", "live", 200),
    ("offer", "POST", "/api/webrtc/offer", "live", 400),  # 400: let in, the SDP is bad
    ("calls", "POST", "/v1/realtime/calls", "live", 400),
    ("transcript", "GET", "/api/realtime/transcripts/{sid}", "history", 404),  # none kept
    ("conversations", "GET", "/api/conversations", "history", 200),
    ("conversation", "GET", "/api/conversations/{sid}", "history", 404),  # none kept
    ("metrics", "GET", "/metrics", "users", 200),
]
WS_ROUTES = [("/ws/{sid}", "live"), ("/v1/realtime?model=m", "live"), ("/api/runs/worker", "runs")]
NO_TICKETS = {"users", "runs", "docs", "mint", "metrics"}
"""Routes a ticket never opens (403), whoever minted it."""


@dataclass
class World:
    server: Served
    keys: dict[str, str | None]
    """Credential name → the credential (None: none sent)."""
    refused: dict[str, tuple[int, str]]
    """Credentials refused everywhere: their status and a phrase their message holds."""
    roles: dict[str, str]
    """Credentials let in, and the role they act with."""


@pytest_asyncio.fixture(scope="module")
async def world() -> AsyncIterator[World]:
    issuer = Issuer()
    async with jwks_server(issuer) as jwks_url:
        settings = loopback_settings(
            api_keys=[API_KEY],
            jwt_secret="an-hs256-secret-of-at-least-32-characters",
            jwt_jwks_url=jwks_url,
            jwt_audience=AUDIENCE,
            direct_mode_enabled=True,
            openai_api_key="sk-upstream-unused",
            openai_base_url="http://127.0.0.1:9/v1",
        )
        async with serve(settings) as server:
            users = server.gateway.users
            assert users is not None
            _, admin = await users.add("ada", "admin")
            _, user = await users.add("ursula", "user")
            _, viewer = await users.add("victor", "viewer")
            _, revoked = await users.add("rita", "user")
            await users.rotate("rita")
            _, disabled = await users.add("dora", "user")
            await users.update("dora", disabled=True)
            expired = (await server.mint(seconds=10))["value"]
            server.clock.now += 11
            keys = {
                "none": None,
                "wrong": "vg_" + "x" * 43,
                "revoked": revoked,
                "disabled": disabled,
                "expired-ticket": expired,
                "jwt-expired": hs256(sub="eve", role="user", exp=1),
                "jwt-bad-signature": hs256(sub="eve", role="user")[:-4] + "AAAA",
                "jwt-other-secret": issuer_with_other_secret(),
                "jwt-malformed": "not.a.jwt",
                "jwt-wrong-audience": hs256(sub="eve", role="user", aud="someone-else"),
                "jwt-no-exp": hs256(sub="eve", role="user", exp=None),
                "config-key": API_KEY,
                "admin": admin,
                "user": user,
                "viewer": viewer,
                "jwt-user": hs256(sub="eve", role="user"),
                "jwks-admin-rs256": issuer.token("RS256", sub="ivan", role="admin"),
                "jwks-viewer-es256": issuer.token("ES256", sub="vera", role=["viewer"]),
            }
            refused = {
                "none": (401, "missing API key"),
                "wrong": (401, "incorrect API key"),
                "revoked": (401, "revoked"),
                "disabled": (403, "disabled"),
                "expired-ticket": (401, "expired"),
                "jwt-expired": (401, "expired"),
                "jwt-bad-signature": (401, "signature"),
                "jwt-other-secret": (401, "signature"),
                "jwt-malformed": (401, "not a well-formed JWT"),
                "jwt-wrong-audience": (401, "aud"),
                "jwt-no-exp": (401, "'exp'"),
            }
            roles = {
                "config-key": "admin",
                "admin": "admin",
                "user": "user",
                "viewer": "viewer",
                "jwt-user": "user",
                "jwks-admin-rs256": "admin",
                "jwks-viewer-es256": "viewer",
            }
            yield World(server, keys, refused, roles)


def issuer_with_other_secret() -> str:
    import jwt

    from tests.server.jwks import claims_with_defaults

    return jwt.encode(
        claims_with_defaults({"sub": "eve", "role": "user"}),
        "another-secret-of-at-least-32-characters!",
        algorithm="HS256",
    )


def new_session_id() -> str:
    return "sess_" + uuid.uuid4().hex


async def http_call(world: World, method: str, path: str, key: str | None) -> Any:
    body: dict[str, Any] = {}
    headers = bearer(key)
    if path == "/v1/realtime/client_secrets":
        body = {"json": {"session": {"type": "realtime"}}}
    elif path == "/api/webrtc/offer":
        body = {"json": {"sdp": "v=0", "type": "offer"}}
    elif path == "/v1/realtime/calls":
        body = {"content": "v=0"}
        headers = {**headers, "Content-Type": "application/sdp"}
    async with world.server.client() as http:
        return await http.request(method, path, headers=headers, **body)


ALL = [
    "none",
    "wrong",
    "revoked",
    "disabled",
    "expired-ticket",
    "jwt-expired",
    "jwt-bad-signature",
    "jwt-other-secret",
    "jwt-malformed",
    "jwt-wrong-audience",
    "jwt-no-exp",
    "config-key",
    "admin",
    "user",
    "viewer",
    "jwt-user",
    "jwks-admin-rs256",
    "jwks-viewer-es256",
]


@pytest.mark.parametrize("cred", ALL)
async def test_http_routes(world, cred):
    key = world.keys[cred]
    for _, method, path, group, served in HTTP_ROUTES:
        r = await http_call(world, method, path.format(sid=new_session_id()), key)
        if cred in world.refused:
            status, phrase = world.refused[cred]
            assert r.status_code == status, (path, r.text)
            assert phrase in r.json()["error"]["message"], (path, r.text)
        elif group in ROLE_GROUPS[world.roles[cred]]:
            assert r.status_code == served, (cred, path, r.text)
        else:
            assert r.status_code == 403, (cred, path, r.text)
            assert r.json()["error"]["code"] == "insufficient_role"


@pytest.mark.parametrize("cred", ALL)
async def test_websocket_routes(world, cred):
    key = world.keys[cred]
    for path, group in WS_ROUTES:
        url = world.server.ws + path.format(sid=new_session_id())
        answer = await ws_answer(url, headers=bearer(key))
        if cred in world.refused:
            status, phrase = world.refused[cred]
            if path.startswith("/v1/realtime"):
                assert answer == status, (path, answer)  # refused in the handshake, as OpenAI
            else:
                code, reason = answer
                assert code == 1008 and phrase in reason, (path, answer)
        elif group in ROLE_GROUPS[world.roles[cred]]:
            assert answer == OPEN, (cred, path, answer)
        elif path.startswith("/v1/realtime"):
            assert answer == 403, (cred, path, answer)
        else:
            code, reason = answer
            assert code == 1008 and "may not use" in reason, (cred, path, answer)


@pytest.mark.parametrize("minter", ["config-key", "admin", "user", "jwt-user", "jwks-admin-rs256"])
async def test_tickets_act_as_their_minter_on_their_session_only(world, minter):
    sid = new_session_id()
    ticket = (await world.server.mint(session_id=sid, key=world.keys[minter]))["value"]
    ws = world.server.ws
    assert await ws_answer(f"{ws}/ws/{sid}?ticket={ticket}") == OPEN
    assert await ws_answer(f"{ws}/ws/{sid}", headers=bearer(ticket)) == OPEN
    assert await ws_answer(f"{ws}/v1/realtime?model=m&ticket={ticket}") == OPEN
    code, reason = await ws_answer(f"{ws}/ws/{new_session_id()}?ticket={ticket}")
    assert code == 1008 and "minted for" in reason
    code, _ = await ws_answer(f"{ws}/api/runs/worker?ticket={ticket}")
    assert code == 1008
    async with world.server.client() as http:
        me = (await http.get("/api/me", headers=bearer(ticket))).json()
        assert me["credential"] == "client_secret" and me["role"] == world.roles[minter]
        for name, method, path, _, served in HTTP_ROUTES:
            r = await http_call(world, method, path.format(sid=sid), ticket)
            expected = 403 if name in NO_TICKETS else served
            if name == "users" and world.roles[minter] != "admin":
                expected = 403
            assert r.status_code == expected, (name, r.text)


async def test_viewers_may_not_mint_tickets(world):
    async with world.server.client() as http:
        body = {"session": {"type": "realtime"}}
        for cred in ("viewer", "jwks-viewer-es256"):
            r = await http.post(
                "/v1/realtime/client_secrets", json=body, headers=bearer(world.keys[cred])
            )
            assert r.status_code == 403 and "live sessions" in r.json()["error"]["message"]


async def test_a_long_lived_key_in_a_url_is_refused_with_what_to_do(world):
    ws = world.server.ws
    for key in (world.keys["user"], API_KEY, world.keys["jwt-user"]):
        assert await ws_answer(f"{ws}/v1/realtime?model=m&ticket={key}") == 401
        code, reason = await ws_answer(f"{ws}/ws/{new_session_id()}?ticket={key}")
        assert code == 1008 and "never goes in a URL" in reason and "mint a ticket" in reason


async def test_a_ticket_dies_with_its_minting_key_and_its_user(world):
    users = world.server.gateway.users
    _, key = await users.add("tom", "user")
    sid = new_session_id()
    ticket = (await world.server.mint(session_id=sid, key=key))["value"]
    url = f"{world.server.ws}/ws/{sid}?ticket={ticket}"
    assert await ws_answer(url) == OPEN
    await users.update("tom", disabled=True)
    code, reason = await ws_answer(url)
    assert code == 1008 and "disabled" in reason
    await users.update("tom", disabled=False)
    assert await ws_answer(url) == OPEN
    await users.rotate("tom")
    code, reason = await ws_answer(url)
    assert code == 1008 and "revoked" in reason


async def test_a_change_through_the_admin_api_takes_effect_at_once(world):
    admin = bearer(world.keys["admin"])
    async with world.server.client() as http:
        made = (
            await http.post("/api/users", json={"name": "nina", "role": "user"}, headers=admin)
        ).json()
        key, user_id = made["key"], made["user"]["id"]
        assert (await http.get("/api/me", headers=bearer(key))).json()["user"]["name"] == "nina"
        r = await http.patch(f"/api/users/{user_id}", json={"role": "viewer"}, headers=admin)
        assert r.json()["user"]["role"] == "viewer"
        r = await http.get("/api/runs", headers=bearer(key))
        assert r.status_code == 403  # a viewer now
        await http.patch(f"/api/users/{user_id}", json={"disabled": True}, headers=admin)
        assert (await http.get("/api/me", headers=bearer(key))).status_code == 403
        await http.patch(f"/api/users/{user_id}", json={"disabled": False}, headers=admin)
        rotated = (await http.post(f"/api/users/{user_id}/rotate", headers=admin)).json()
        r = await http.get("/api/me", headers=bearer(key))
        assert r.status_code == 401 and r.json()["error"]["code"] == "key_revoked"
        assert (await http.get("/api/me", headers=bearer(rotated["key"]))).status_code == 200


async def test_a_jwt_user_is_kept_in_the_store_and_an_admin_may_disable_it(world):
    token = hs256(sub="jules", role="user")
    async with world.server.client() as http:
        me = (await http.get("/api/me", headers=bearer(token))).json()
        assert me["user"]["name"] == "jwt:jules" and me["credential"] == "jwt"
        admin = bearer(world.keys["admin"])
        await http.patch(f"/api/users/{me['user']['id']}", json={"disabled": True}, headers=admin)
        r = await http.get("/api/me", headers=bearer(token))
        assert r.status_code == 403 and "disabled" in r.json()["error"]["message"]


async def test_the_page_and_healthz_need_no_credential(world):
    async with world.server.client() as http:
        for path in ("/", "/healthz", "/static/app.js", "/static/js/auth.js"):
            assert (await http.get(path)).status_code == 200, path


async def test_concurrent_first_requests_of_a_new_jwt_user_all_get_in(world):
    token = hs256(sub="crowd", role="user")
    async with world.server.client() as http:
        answers = await asyncio.gather(
            *(http.get("/api/me", headers=bearer(token)) for _ in range(8))
        )
    assert {r.status_code for r in answers} == {200}
    assert len({r.json()["user"]["id"] for r in answers}) == 1


async def test_odd_bytes_in_a_key_are_a_401_not_a_crash(world):
    async with world.server.client() as http:
        for value in (b"Bearer \xe9\xe9", b"Bearer vg_\xff", b"Bearer a.\xe9.b"):
            r = await http.get("/api/me", headers={"Authorization": value})
            assert r.status_code == 401, r.text


async def test_a_store_that_cannot_answer_is_a_503_that_says_so(world, monkeypatch):
    from sqlalchemy.exc import OperationalError

    async def unreachable(digest: str) -> None:
        raise OperationalError("SELECT", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(world.server.gateway.users, "lookup_hash", unreachable)
    async with world.server.client() as http:
        r = await http.get("/api/me", headers=bearer("vg_" + "q" * 43))
    assert r.status_code == 503 and r.json()["error"]["code"] == "store_unavailable"
