"""The admin API of users: admins only, keys shown once, refusals that say what to fix."""

from __future__ import annotations

import pytest

from tests.server.wire import API_KEY, bearer, loopback_settings, serve

pytestmark = pytest.mark.e2e


async def test_admins_manage_users_and_others_may_not():
    async with serve(loopback_settings(api_keys=[API_KEY])) as server:
        admin = bearer(API_KEY)
        async with server.client() as http:
            r = await http.post("/api/users", json={"name": "ula", "role": "user"}, headers=admin)
            assert r.status_code == 201
            made = r.json()
            assert made["key"].startswith("vg_") and made["user"]["keys"] == [made["key"][:11]]
            user = bearer(made["key"])
            for method, path in (
                ("GET", "/api/users"),
                ("POST", "/api/users"),
                ("PATCH", f"/api/users/{made['user']['id']}"),
                ("POST", f"/api/users/{made['user']['id']}/rotate"),
            ):
                r = await http.request(method, path, json={"name": "x"}, headers=user)
                assert r.status_code == 403 and "user management" in r.text, path
            listed = (await http.get("/api/users", headers=admin)).json()["data"]
            assert [u["name"] for u in listed] == ["ula"] and "key" not in listed[0]

            r = await http.post("/api/users", json={"name": "ula"}, headers=admin)
            assert r.status_code == 409 and "choose another name" in r.json()["error"]["message"]
            r = await http.post("/api/users", json={"name": "bad name"}, headers=admin)
            assert r.status_code == 400 and "invalid user name" in r.json()["error"]["message"]
            r = await http.post("/api/users", json={"name": "x", "role": "root"}, headers=admin)
            assert r.status_code == 422
            r = await http.patch("/api/users/nobody", json={"disabled": True}, headers=admin)
            assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"
            r = await http.post("/api/users/nobody/rotate", headers=admin)
            assert r.status_code == 404
            r = await http.patch("/api/users/ula", json={"disabled": True}, headers=admin)
            assert r.json()["user"]["disabled"] is True  # by name too
            me = await http.get("/api/me", headers=user)
            assert me.status_code == 403 and "voxgate users enable ula" in me.text
            me = (await http.get("/api/me", headers=admin)).json()
            assert me["user"] is None and me["role"] == "admin" and me["credential"] == "api_key"


async def test_an_open_server_closes_once_it_has_users_and_me_says_so():
    async with serve(loopback_settings()) as server, server.client() as http:
        me = (await http.get("/api/me")).json()
        assert me["auth"]["required"] is False and me["credential"] == "open"
        made = (await http.post("/api/users", json={"name": "ada", "role": "admin"})).json()
        assert (await http.get("/api/me")).status_code == 401
        me = (await http.get("/api/me", headers=bearer(made["key"]))).json()
        assert me["auth"]["required"] is True and me["user"]["name"] == "ada"
