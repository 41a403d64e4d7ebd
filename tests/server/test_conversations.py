"""The history API and resume, on a loopback server whose store is a fresh SQLite or Postgres.

The callers are real users of the store (``u1`` and ``u2`` users, ``v1`` a viewer, ``root`` an
admin), each with a key of their own; the header dicts below get those keys per server.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.conftest import serve_app
from tests.images import create_image, data_url, png
from tests.server.wire import loopback_settings
from tests.store.conftest import database_url  # noqa: F401  (the fixture)
from voxgate.server.app import create_app
from voxgate.server.gateway import Gateway
from voxgate.store.records import ConversationRef, NewItem, PutItem
from voxgate.store.schema import User
from voxgate.store.users import UserExists

ADMIN: dict[str, str] = {}
U1: dict[str, str] = {}
U2: dict[str, str] = {}
VIEWER: dict[str, str] = {}


async def add_users(gateway: Gateway) -> None:
    """The test's users, under fixed ids, each given a key (in the header dicts above)."""
    async with gateway.database.sessions.begin() as session:
        for user_id, role in (("u1", "user"), ("u2", "user"), ("v1", "viewer")):
            if await session.get(User, user_id) is None:
                session.add(User(id=user_id, name=user_id, role=role))
    assert gateway.users is not None
    for name, headers in (("u1", U1), ("u2", U2), ("v1", VIEWER)):
        _, key = await gateway.users.rotate(name)
        headers.clear()
        headers["authorization"] = f"Bearer {key}"
    try:
        _, key = await gateway.users.add("root", "admin")
    except UserExists:
        _, key = await gateway.users.rotate("root")
    ADMIN.clear()
    ADMIN["authorization"] = f"Bearer {key}"


class Server:
    def __init__(self, port: int, gateway: Gateway) -> None:
        self.port = port
        self.gateway = gateway

    def http(self, headers: dict[str, str]) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", headers=headers)

    async def converse(self, session_id: str, headers: dict[str, str], *texts: str) -> list[Any]:
        """A WebSocket client of ``session_id`` types ``texts``; returns what it received."""
        url = f"ws://127.0.0.1:{self.port}/ws/{session_id}"
        received: list[Any] = []
        async with websockets.connect(url, additional_headers=headers) as ws:
            received.append(json.loads(await ws.recv()))  # session.created
            for text in texts:
                await ws.send(json.dumps({"type": "text", "text": text}))
                while received[-1]["type"] != "response.done":
                    received.append(json.loads(await ws.recv()))
                received.append({"type": "-"})
        async with asyncio.timeout(10):  # the session ends once its client has left
            while self.gateway.recorder.live(session_id) is not None:
                await asyncio.sleep(0.02)
        return received


@asynccontextmanager
async def server(url: str) -> AsyncIterator[Server]:
    app = create_app(loopback_settings(database_url=url, summaries=True))
    async with serve_app(app) as port:
        gateway: Gateway = app.state.gateway
        await add_users(gateway)
        yield Server(port, gateway)


def new_id() -> str:
    return "sess_" + uuid.uuid4().hex[:12]


async def test_own_conversations_admins_all_others_none(database_url: str) -> None:  # noqa: F811
    async with server(database_url) as srv:
        mine, theirs = new_id(), new_id()
        await srv.converse(mine, U1, "Hello there", "Book seat 14C")
        await srv.converse(theirs, U2, "Something else")
        async with srv.http(U1) as http:
            listed = (await http.get("/api/conversations")).json()
            assert [c["id"] for c in listed["data"]] == [mine]
            assert listed["data"][0]["title"] == "Hello there"
            assert listed["data"][0]["transport"] == "ws" and not listed["data"][0]["live"]
            got = (await http.get(f"/api/conversations/{mine}")).json()
            texts = [(i["type"], i["role"], i["text"]) for i in got["items"]]
            assert texts[:4] == [
                ("message", "user", "Hello there"),
                ("message", "assistant", "Hello there"),
                ("message", "user", "Book seat 14C"),
                ("message", "assistant", "Book seat 14C"),
            ]
            assert texts[-1] == ("summary", None, "Book seat 14C")  # the loopback's echo
            assert got["ended_at"] is not None and got["user_id"] == "u1"
            for path in (f"/api/conversations/{theirs}", f"/api/conversations/{theirs}/export"):
                other = await http.get(path)
                assert other.status_code == 404, path
                assert theirs in other.json()["error"]["message"]
            for bad in ("sess_nope", "a%20b", "x" * 300):
                assert (await http.get(f"/api/conversations/{bad}")).status_code == 404
            search = (await http.get("/api/conversations", params={"q": "seat 14"})).json()
            assert [c["id"] for c in search["data"]] == [mine]
            assert (await http.get("/api/conversations", params={"q": "else"})).json()["data"] == []
        async with srv.http(ADMIN) as http:
            everyone = (await http.get("/api/conversations", params={"q": "e"})).json()["data"]
            assert {c["id"] for c in everyone} == {mine, theirs}
            assert (await http.get(f"/api/conversations/{theirs}")).status_code == 200


async def test_paging_by_cursor_or_offset(database_url: str) -> None:  # noqa: F811
    async with server(database_url) as srv:
        store = srv.gateway.history
        ids = [f"c{n}" for n in range(5)]
        for cid in ids:
            ref = ConversationRef(cid, user_id="u1", admin=False)
            await store.apply([PutItem(ref, NewItem("message", cid, role="user"))])
        async with srv.http(U1) as http:
            seen: list[str] = []
            params: dict[str, Any] = {"limit": 2}
            while True:
                page = (await http.get("/api/conversations", params=params)).json()
                seen += [c["id"] for c in page["data"]]
                if not page["has_more"]:
                    break
                params["cursor"] = page["next_cursor"]
            assert seen == ids[::-1]
            offset = (await http.get("/api/conversations", params={"offset": 4})).json()
            assert [c["id"] for c in offset["data"]] == ["c0"]
            both = await http.get("/api/conversations", params={"offset": 1, "cursor": "x"})
            assert both.status_code == 400
            bad = await http.get("/api/conversations", params={"cursor": "bm90IGEgY3Vyc29y"})
            assert bad.status_code == 400 and bad.json()["error"]["param"] == "cursor"
            assert (await http.get("/api/conversations", params={"limit": 0})).status_code == 422


async def test_export_as_json_and_text_downloads(database_url: str) -> None:  # noqa: F811
    async with server(database_url) as srv:
        cid = new_id()
        await srv.converse(cid, U1, "What is the wifi password?", "Thanks")
        async with srv.http(U1) as http:
            text = await http.get(f"/api/conversations/{cid}/export", params={"format": "text"})
            assert text.status_code == 200
            assert text.headers["content-type"].startswith("text/plain")
            assert text.headers["content-disposition"] == f'attachment; filename="{cid}.txt"'
            assert text.text.startswith(
                "User: What is the wifi password?\nAgent: What is the wifi password?\n"
            )
            assert "Summary: " in text.text
            exported = await http.get(f"/api/conversations/{cid}/export")
            assert exported.headers["content-disposition"].endswith(f'{cid}.json"')
            body = exported.json()
            assert body["conversation"]["id"] == cid
            assert [i["role"] for i in body["items"]][:2] == ["user", "assistant"]
            # the turn's figures (voxgate.metrics, as the session sent them) are kept with it (the
            # loopback engine reports none of its own: a response's go out as the next starts)
            assert body["metrics"] and body["metrics"][0]["response_id"].startswith("resp_")
            assert "response_ms" in body["metrics"][0]["metrics"], body["metrics"]
            bad = await http.get(f"/api/conversations/{cid}/export", params={"format": "pdf"})
            assert bad.status_code == 422


async def test_delete_own_not_live_and_not_as_viewer(database_url: str) -> None:  # noqa: F811
    async with server(database_url) as srv:
        cid, viewers = new_id(), new_id()
        await srv.converse(cid, U1, "Delete me")
        ref = ConversationRef(viewers, user_id="v1", admin=False)
        await srv.gateway.history.apply([PutItem(ref, NewItem("message", "hi", role="user"))])
        async with srv.http(VIEWER) as http:
            assert (await http.get(f"/api/conversations/{viewers}")).status_code == 200
            refused = await http.delete(f"/api/conversations/{viewers}")
            assert refused.status_code == 403
            assert "viewer" in refused.json()["error"]["message"]
        async with srv.http(U2) as http:
            assert (await http.delete(f"/api/conversations/{cid}")).status_code == 404
        srv.gateway.registry.open(cid)  # a session holds it again
        async with srv.http(U1) as http:
            live = await http.delete(f"/api/conversations/{cid}")
            assert live.status_code == 409 and live.json()["error"]["code"] == "conversation_live"
            await srv.gateway.registry.release(srv.gateway.registry.get(cid))  # type: ignore[arg-type]
            assert (await http.delete(f"/api/conversations/{cid}")).status_code == 204
            assert (await http.get(f"/api/conversations/{cid}")).status_code == 404
            assert (await http.delete(f"/api/conversations/{cid}")).status_code == 404


async def test_another_users_conversation_cannot_be_joined(database_url: str) -> None:  # noqa: F811
    async with server(database_url) as srv:
        cid = new_id()
        await srv.converse(cid, U1, "Private")
        url = f"ws://127.0.0.1:{srv.port}/ws/{cid}"
        async with websockets.connect(url, additional_headers=U2) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert "another user" in closed.value.rcvd.reason
        stored = await srv.gateway.history.get(cid)
        assert stored is not None and "Private" in [i.text for i in stored.items]


async def test_a_conversation_resumes_after_a_restart(database_url: str) -> None:  # noqa: F811
    cid = new_id()
    async with server(database_url) as srv:
        await srv.converse(cid, U1, "My name is Sarah.")
    async with server(database_url) as srv:  # a new server process's gateway, the same store
        received = await srv.converse(cid, U1, "What is my name?")
        added = [ev["item"] for ev in received if ev["type"] == "conversation.item.added"]
        restored = [(i["role"], i["content"][0]["text"]) for i in added[:2]]
        assert restored == [("user", "My name is Sarah."), ("assistant", "My name is Sarah.")]
        first_reply = next(i for i, ev in enumerate(received) if ev["type"] == "response.created")
        assert all(
            ev["type"] != "conversation.item.added" or ev["item"]["id"] in {a["id"] for a in added}
            for ev in received[:first_reply]
        )
        stored = await srv.gateway.history.get(cid)
        assert stored is not None
        messages = [(i.role, i.text) for i in stored.items if i.type == "message"]
        assert messages == [
            ("user", "My name is Sarah."),
            ("assistant", "My name is Sarah."),
            ("user", "What is my name?"),
            ("assistant", "What is my name?"),
        ]  # the restored items are not recorded twice
        assert [i.type for i in stored.items].count("summary") == 1
        assert stored.items[-1].type == "summary"


async def test_browser_direct_transcripts_are_the_store_and_owned(database_url: str) -> None:  # noqa: F811
    settings = loopback_settings(
        database_url=database_url,
        direct_mode_enabled=True,
        openai_api_key="sk-unused",
    )
    app = create_app(settings)
    async with serve_app(app) as port:
        gateway: Gateway = app.state.gateway
        await add_users(gateway)
        base = f"http://127.0.0.1:{port}/api/realtime/transcripts"
        turns = {"call_id": "rtc_1", "entries": [{"role": "user", "text": "Hi", "item_id": "i1"}]}
        async with httpx.AsyncClient(headers=U1) as http:
            assert (await http.post(base, json=turns)).status_code == 201
            got = (await http.get(f"{base}/rtc_1")).json()
            assert got["entries"] == [
                {"role": "user", "text": "Hi", "item_id": "i1", "source": "client"}
            ]
        async with httpx.AsyncClient(headers=U2) as http:
            assert (await http.get(f"{base}/rtc_1")).status_code == 403
            refused = await http.post(base, json=turns)
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] in (
                "session_forbidden",
                "conversation_forbidden",
            )
        async with httpx.AsyncClient(headers=U1) as http:
            listed = (await http.get(f"http://127.0.0.1:{port}/api/conversations")).json()
            assert [c["id"] for c in listed["data"]] == ["rtc_1"]


async def test_a_calls_transcript_is_bounded(database_url: str, monkeypatch) -> None:  # noqa: F811
    from voxgate.server import direct

    monkeypatch.setattr(direct, "MAX_CALL_ITEMS", 3)
    settings = loopback_settings(
        database_url=database_url, direct_mode_enabled=True, openai_api_key="sk-unused"
    )
    async with serve_app(create_app(settings)) as port:
        base = f"http://127.0.0.1:{port}/api/realtime/transcripts"

        def turns(*ids: str) -> dict[str, Any]:
            entries = [{"role": "user", "text": f"turn {i}", "item_id": i} for i in ids]
            return {"call_id": "rtc_long", "entries": entries}

        async with httpx.AsyncClient() as http:
            assert (await http.post(base, json=turns("a", "b"))).status_code == 201
            refused = await http.post(base, json=turns("c", "d"))
            assert refused.status_code == 413
            assert refused.json()["error"]["code"] == "transcript_too_long"
            got = (await http.get(f"{base}/rtc_long")).json()
            assert [e["item_id"] for e in got["entries"]] == ["a", "b"]  # nothing written in part
            assert (await http.post(base, json=turns("c"))).status_code == 201


async def test_an_image_turn_is_exported_and_resumed_as_words(database_url: str) -> None:  # noqa: F811
    cid, photo = new_id(), png(16, 16) + b"\0" * 100_000
    async with server(database_url) as srv:
        url = f"ws://127.0.0.1:{srv.port}/ws/{cid}"
        async with websockets.connect(url, additional_headers=U1, max_size=None) as ws:
            await ws.recv()  # session.created
            await ws.send(json.dumps(create_image(data_url(photo), "What is this?")))
            await ws.send(json.dumps({"type": "response.create"}))
            while json.loads(await ws.recv())["type"] != "response.done":
                pass
        async with asyncio.timeout(10):
            while srv.gateway.recorder.live(cid) is not None:
                await asyncio.sleep(0.02)
        async with srv.http(U1) as http:
            text = await http.get(f"/api/conversations/{cid}/export", params={"format": "text"})
            assert text.status_code == 200
            said = f"What is this? (an image/png image of {len(photo)} bytes)"
            assert text.text.startswith(f"User: What is this? [image]\nAgent: {said}\n")
            exported = await http.get(f"/api/conversations/{cid}/export")
            assert exported.status_code == 200 and len(exported.content) < 5000
            [image] = exported.json()["items"][0]["data"]["images"]
            assert image == {"media_type": "image/png", "bytes": len(photo), "detail": "auto"}
            got = await http.get(f"/api/conversations/{cid}")
            assert got.status_code == 200 and got.json()["items"][0]["text"].endswith("[image]")
    async with server(database_url) as srv:  # resumed: the image's place, in words
        received = await srv.converse(cid, U1, "And now?")
        restored = next(ev["item"] for ev in received if ev["type"] == "conversation.item.added")
        assert restored["content"] == [{"type": "input_text", "text": "What is this? [image]"}]
