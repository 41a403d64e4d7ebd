"""``/api/sessions/{id}/participants`` and joining with a role, over real sockets (loopback
engine: what it hears comes back as audio, so the mix can be read back)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import numpy as np
import pytest
import pytest_asyncio
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.server.wire import API_KEY, Served, bearer, loopback_settings, serve
from voxgate.session.mixer import FRAME_SAMPLES

pytestmark = pytest.mark.e2e

JOINED, LEFT, UPDATED = (f"voxgate.participant.{t}" for t in ("joined", "left", "updated"))


class Client:
    """A ``/ws`` client that keeps every event and every audio frame it receives."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self.audio: list[bytes] = []
        self.closed: tuple[int, str] | None = None
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, url: str, key: str | None = None) -> AsyncIterator[Client]:
        async with websockets.connect(url, additional_headers=bearer(key)) as ws:
            client = cls(ws)
            try:
                yield client
            finally:
                client._reader.cancel()

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if isinstance(message, bytes):
                    self.audio.append(message)
                else:
                    self.events.append(json.loads(message))
                self._changed.set()
        except ConnectionClosed:
            pass
        assert self.ws.close_code is not None
        self.closed = (self.ws.close_code, self.ws.close_reason)
        self._changed.set()

    async def until(self, check: Callable[[Client], Any], timeout: float = 10) -> Any:
        async with asyncio.timeout(timeout):
            while not (found := check(self)):
                self._changed.clear()
                await self._changed.wait()
        return found

    async def event(self, type_: str, **fields: Any) -> dict[str, Any]:
        def match(client: Client) -> dict[str, Any] | None:
            return next(
                (
                    ev
                    for ev in client.events
                    if ev["type"] == type_ and all(ev.get(k) == v for k, v in fields.items())
                ),
                None,
            )

        found: dict[str, Any] = await self.until(match)
        return found

    async def me(self) -> str:
        return str((await self.event(JOINED, you=True))["participant"]["id"])

    async def joined(self, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first ``joined`` event whose participant passes ``check``."""
        found: dict[str, Any] = await self.until(
            lambda c: next(
                (e for e in c.events if e["type"] == JOINED and check(e["participant"])), None
            )
        )
        return found


@pytest_asyncio.fixture
async def server() -> AsyncIterator[Served]:
    async with serve(loopback_settings(max_participants=3)) as served:
        yield served


def session_path() -> str:
    return "s_" + uuid.uuid4().hex


def frame(value: int) -> bytes:
    return np.full(FRAME_SAMPLES, value, np.int16).tobytes()


async def test_participants_are_listed_with_their_roles_and_told_of_each_other(server):
    sid = session_path()
    async with (
        Client.connect(f"{server.ws}/ws/{sid}") as host,
        Client.connect(f"{server.ws}/ws/{sid}?role=listener") as guest,
    ):
        host_id, guest_id = await host.me(), await guest.me()
        joined = await host.joined(lambda p: p["id"] == guest_id)
        assert joined["participant"]["role"] == "listener" and "you" not in joined
        async with server.client() as http:
            r = await http.get(f"/api/sessions/{sid}/participants")
        assert r.status_code == 200
        listed = r.json()["participants"]
        assert [(p["id"], p["role"], p["transport"]) for p in listed] == [
            (host_id, "speaker", "websocket"),
            (guest_id, "listener", "websocket"),
        ]
        # a listener's microphone is not heard: one error, whatever it sends
        for _ in range(5):
            await guest.ws.send(frame(300))
        error = await guest.event("error")
        assert error["error"]["code"] == "listener_audio_ignored"
        await asyncio.sleep(0.2)
        assert len([e for e in guest.events if e["type"] == "error"]) == 1
        assert not host.audio  # the loopback engine heard nothing
    async with server.client() as http:
        r = await http.get(f"/api/sessions/{sid}/participants")
    assert r.status_code == 404 and "no live session" in r.json()["error"]["message"]


async def test_two_speakers_are_mixed_and_a_muted_one_is_not_heard(server):
    sid = session_path()
    async with (
        Client.connect(f"{server.ws}/ws/{sid}") as a,
        Client.connect(f"{server.ws}/ws/{sid}") as b,
    ):
        await a.me()
        b_id = await b.me()
        for _ in range(10):
            await a.ws.send(frame(100))
            await b.ws.send(frame(20))
            await asyncio.sleep(0.02)

        def heard(client: Client) -> set[int]:
            return {int(v) for chunk in client.audio for v in np.frombuffer(chunk, np.int16)}

        assert 120 in await a.until(heard)  # both at once, summed
        async with server.client() as http:
            r = await http.post(
                f"/api/sessions/{sid}/participants/{b_id}/mute", json={"muted": True}
            )
        assert r.status_code == 200 and r.json()["muted"] is True
        update = await a.event(UPDATED)
        assert update["participant"]["id"] == b_id and update["participant"]["muted"] is True
        a.audio.clear()
        for _ in range(10):
            await a.ws.send(frame(100))
            await b.ws.send(frame(20))
            await asyncio.sleep(0.02)
        await a.until(lambda c: len(b"".join(c.audio)) >= 10 * 2 * FRAME_SAMPLES)
        assert heard(a) == {100}  # b is muted: only a is heard


async def test_remove_closes_the_participant_and_tells_the_others(server):
    sid = session_path()
    async with (
        Client.connect(f"{server.ws}/ws/{sid}") as host,
        Client.connect(f"{server.ws}/ws/{sid}") as guest,
    ):
        await host.me()
        guest_id = await guest.me()
        async with server.client() as http:
            r = await http.delete(f"/api/sessions/{sid}/participants/{guest_id}")
            assert r.status_code == 200 and r.json()["removed"] is True
            left = await guest.event(LEFT)  # told before its socket closes
            assert left["reason"] == "removed" and left["participant"]["id"] == guest_id
            await guest.until(lambda c: c.closed)
            assert guest.closed == (4000, "removed from the session")
            assert (await host.event(LEFT))["participant"]["id"] == guest_id
            r = await http.delete(f"/api/sessions/{sid}/participants/{guest_id}")
            assert r.status_code == 404
            assert r.json()["error"]["code"] == "participant_not_found"
            assert guest_id in r.json()["error"]["message"]
            r = await http.post(
                f"/api/sessions/{sid}/participants/part_x/mute", json={"muted": "maybe"}
            )
            assert r.status_code == 422
            r = await http.post(f"/api/sessions/{sid}/participants/part_x/gain", json={"gain": 9})
            assert r.status_code == 422


async def test_a_full_session_is_refused_with_a_reason(server):
    sid = session_path()
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(3):
            client = await stack.enter_async_context(Client.connect(f"{server.ws}/ws/{sid}"))
            await client.me()
        async with Client.connect(f"{server.ws}/ws/{sid}") as late:
            await late.until(lambda c: c.closed)
            assert late.closed is not None and late.closed[0] == 1008
            assert "is full" in late.closed[1]
            assert late.events[-1]["error"]["code"] == "session_full"
        async with server.client() as http:
            r = await http.post("/api/webrtc/offer", json={"sdp": "v=0\r\n", "session_id": sid})
            assert r.status_code == 409 and "is full" in r.json()["error"]["message"]
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(f"{server.ws}/v1/realtime?call_id={sid}"):
                pass
        assert refused.value.response.status_code == 409


async def test_a_bad_role_is_refused(server):
    async with Client.connect(f"{server.ws}/ws/{session_path()}?role=boss") as client:
        await client.until(lambda c: c.closed)
        assert client.events[0]["error"]["code"] == "invalid_role"
    async with server.client() as http:
        r = await http.post("/api/webrtc/offer", json={"sdp": "v=0\r\n", "role": "boss"})
    assert r.status_code == 400 and "listener" in r.json()["detail"]


async def test_a_sideband_listens_and_sees_no_voxgate_events(server):
    sid = session_path()
    async with Client.connect(f"{server.ws}/ws/{sid}") as host:
        await host.me()
        async with Client.connect(f"{server.ws}/v1/realtime?call_id={sid}") as side:
            joined = await host.joined(lambda p: p["sideband"])
            assert joined["participant"]["role"] == "listener"
            assert joined["participant"]["transport"] == "realtime"
            await side.event("session.created")
            await host.ws.send(frame(5))
            await asyncio.sleep(0.2)
            assert not [e for e in side.events if e["type"].startswith("voxgate.")]


async def test_participants_need_the_right_to_the_session():
    async with serve(loopback_settings(api_keys=[API_KEY])) as server:
        sid = session_path()
        own = (await server.mint(session_id=sid))["value"]
        other = (await server.mint(session_id=session_path()))["value"]
        async with Client.connect(f"{server.ws}/ws/{sid}", key=own) as client:
            await client.me()
            async with httpx.AsyncClient(base_url=server.http) as http:
                path = f"/api/sessions/{sid}/participants"
                assert (await http.get(path)).status_code == 401
                assert (await http.get(path, headers=bearer(other))).status_code == 403
                assert (await http.get(path, headers=bearer(own))).status_code == 200
                assert (await http.get(path, headers=bearer(API_KEY))).status_code == 200
