"""Roles per route group, per agent and per feature, from the settings; a feature off answers
404 and `/api/client-config` tells the page (loopback engine, the demo agents)."""

from __future__ import annotations

import uuid

import pytest

from tests.server.wire import OPEN, bearer, loopback_settings, serve, ws_answer
from voxgate.server.auth import APIError, Grant
from voxgate.server.policy import Policy

pytestmark = pytest.mark.e2e


def new_session_id() -> str:
    return "sess_" + uuid.uuid4().hex


def grant(role: str) -> Grant:
    return Grant("api_key", key="k", user_id="usr_x", role=role)


def test_defaults_and_overrides():
    policy = Policy(loopback_settings())
    assert [policy.may(grant("viewer"), g) for g in ("live", "history", "runs", "users")] == [
        False,
        True,
        False,
        False,
    ]
    assert policy.may(grant("user"), "live") and not policy.may(grant("user"), "users")
    with pytest.raises(APIError) as refused:
        policy.require(grant("viewer"), "live")
    assert refused.value.status == 403 and "admin, user" in str(refused.value)

    policy = Policy(
        loopback_settings(
            route_roles={"runs": ["viewer"], "users": []}, feature_roles={"webrtc": []}
        )
    )
    assert policy.may(grant("viewer"), "runs") and not policy.may(grant("user"), "runs")
    assert policy.may(grant("admin"), "users")  # an admin is always allowed
    assert policy.features_for(grant("user"))["webrtc"] is False
    assert policy.features_for(grant("admin"))["webrtc"] is True
    assert policy.features_for(grant("viewer")) == dict.fromkeys(
        ("live_voice", "webrtc", "direct_mode", "record_and_send"), False
    )


def test_a_feature_the_deployment_turned_off_is_off_for_admins_too():
    policy = Policy(
        loopback_settings(
            webrtc_enabled=False, live_voice_enabled=False, record_and_send_enabled=False
        )
    )
    features = policy.features_for(grant("admin"))
    assert not any(features.values())
    with pytest.raises(APIError) as off:
        policy.require_feature(None, "live_voice")
    assert off.value.status == 404 and "VOXGATE_LIVE_VOICE_ENABLED" in str(off.value)


async def test_live_voice_and_webrtc_off_answer_404_everywhere():
    settings = loopback_settings(live_voice_enabled=False, webrtc_enabled=False)
    async with serve(settings) as server:
        code, reason = await ws_answer(f"{server.ws}/ws/{new_session_id()}")
        assert code == 1008 and "live voice is turned off" in reason
        assert await ws_answer(f"{server.ws}/v1/realtime?model=m") == 404
        async with server.client() as http:
            r = await http.post("/api/webrtc/offer", json={"sdp": "v=0", "type": "offer"})
            assert r.status_code == 404 and "WebRTC is turned off" in r.json()["error"]["message"]
            r = await http.post("/v1/realtime/calls", content="v=0")
            assert r.status_code == 404
            config = (await http.get("/api/client-config")).json()
        assert config["features"]["live_voice"] is False and config["webrtc"]["enabled"] is False


async def test_features_and_agents_per_role():
    settings = loopback_settings(
        agents="demo",
        feature_roles={"webrtc": ["admin"], "live_voice": ["admin", "user"]},
        agent_roles={"faq_agent": ["admin"]},
        route_roles={"live": ["admin", "user", "viewer"]},
    )
    async with serve(settings) as server:
        users = server.gateway.users
        user = (await users.add("uma", "user"))[1]
        viewer = (await users.add("val", "viewer"))[1]
        admin = (await users.add("ada", "admin"))[1]
        async with server.client() as http:
            offer = {"sdp": "v=0", "type": "offer"}
            r = await http.post("/api/webrtc/offer", json=offer, headers=bearer(user))
            assert r.status_code == 404 and "not available to role 'user'" in r.text
            r = await http.post("/api/webrtc/offer", json=offer, headers=bearer(admin))
            assert r.status_code == 400  # let in: the SDP is bad
            config = (await http.get("/api/client-config", headers=bearer(user))).json()
            assert config["features"]["webrtc"] is False and config["webrtc"]["enabled"] is False
            assert config["features"]["live_voice"] is True
            assert "faq_agent" not in config["agents"] and "triage_agent" in config["agents"]
            admin_config = (await http.get("/api/client-config", headers=bearer(admin))).json()
            assert "faq_agent" in admin_config["agents"]
            # viewers may use live sessions here (route_roles), but not live voice (features)
            me = (await http.get("/api/me", headers=bearer(viewer))).json()
            assert me["features"]["live_voice"] is False and me["role"] == "viewer"
        ws = server.ws
        code, reason = await ws_answer(f"{ws}/ws/{new_session_id()}", headers=bearer(viewer))
        assert code == 1008 and "not available to role 'viewer'" in reason
        code, reason = await ws_answer(
            f"{ws}/ws/{new_session_id()}?agent=faq_agent", headers=bearer(user)
        )
        assert code == 1008 and "may not use agent 'faq_agent'" in reason
        assert (
            await ws_answer(f"{ws}/ws/{new_session_id()}?agent=triage_agent", headers=bearer(user))
            == OPEN
        )
        assert (
            await ws_answer(f"{ws}/ws/{new_session_id()}?agent=faq_agent", headers=bearer(admin))
            == OPEN
        )


async def test_a_starting_agent_kept_from_a_role_is_refused_without_naming_one():
    settings = loopback_settings(agents="demo", agent_roles={"triage_agent": ["admin"]})
    async with serve(settings) as server:
        user = (await server.gateway.users.add("uma", "user"))[1]
        code, reason = await ws_answer(f"{server.ws}/ws/{new_session_id()}", headers=bearer(user))
        assert code == 1008 and "triage_agent" in reason


async def test_record_and_send_follows_its_feature_and_the_live_group():
    settings = loopback_settings(feature_roles={"record_and_send": ["admin"]})
    async with serve(settings) as server:
        users = server.gateway.users
        user = (await users.add("uma", "user"))[1]
        viewer = (await users.add("val", "viewer"))[1]
        admin = (await users.add("ada", "admin"))[1]
        async with server.client() as http:
            body = {"text": "Hello."}
            r = await http.post("/api/voice/chat", json=body, headers=bearer(viewer))
            assert r.status_code == 403 and "live sessions" in r.text
            r = await http.post("/api/voice/chat", json=body, headers=bearer(user))
            assert r.status_code == 404 and "record-and-send is not available" in r.text
            r = await http.post("/api/voice/chat", json=body, headers=bearer(admin))
            assert r.json()["error"]["code"] == "engine_unsupported"  # let in: loopback has no LLM
            r = await http.post("/api/voice/chat", json=body)
            assert r.status_code == 401
            config = (await http.get("/api/client-config", headers=bearer(user))).json()
            assert config["record_and_send"]["enabled"] is False
