"""``voxgate serve --workers N``: the front routes each connection to the worker holding its session."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from tests.conftest import free_port
from voxgate import affinity
from voxgate.rtc_client import RtcClient
from voxgate.server.workers import route_key


def _request(line: str, *headers: str, body: bytes = b"") -> bytes:
    return ("\r\n".join([line, *headers]) + "\r\n\r\n").encode() + body


def test_route_key_finds_the_session_a_request_names() -> None:
    assert route_key(_request("GET /ws/abc HTTP/1.1", "Host: x")) == "abc"
    assert route_key(_request("GET /ws/a%20b?agent=x HTTP/1.1")) == "a b"
    assert route_key(_request("GET /v1/realtime?call_id=rtc_1 HTTP/1.1")) == "rtc_1"
    assert route_key(_request("POST /v1/realtime/calls/rtc_2/hangup HTTP/1.1")) == "rtc_2"
    assert route_key(_request("GET /api/runs/run_3/events HTTP/1.1")) == "run_3"
    offer = json.dumps({"sdp": "v=0", "type": "offer", "session_id": "s4"}).encode()
    assert route_key(_request("POST /api/webrtc/offer HTTP/1.1", body=offer)) == "s4"
    assert route_key(_request("POST /api/webrtc/offer HTTP/1.1", body=b"{not json")) is None
    chat = json.dumps({"text": "Hi.", "conversation_id": "c7"}).encode()
    assert route_key(_request("POST /api/voice/chat HTTP/1.1", body=chat)) == "c7"
    assert route_key(_request("POST /api/voice/turn?conversation_id=c8 HTTP/1.1")) == "c8"
    assert (
        route_key(_request("GET /v1/realtime?model=m HTTP/1.1", "Authorization: Bearer ek_5"))
        == "ek_5"
    )
    assert (
        route_key(
            _request(
                "GET /v1/realtime?model=m HTTP/1.1",
                "Sec-WebSocket-Protocol: realtime, openai-insecure-api-key.ek_6",
            )
        )
        == "ek_6"
    )
    assert (
        route_key(_request("GET /v1/realtime?model=m HTTP/1.1", "Authorization: Bearer sk-long"))
        is None
    )
    assert route_key(_request("GET /healthz HTTP/1.1")) is None
    assert route_key(b"GET /ws/abc HTTP/1.1\r\nHost: x") is None  # the head is not complete


def test_ids_a_worker_makes_hash_to_it() -> None:
    try:
        affinity.configure(1, 3)
        assert all(affinity.owner(affinity.new_session_id()) == 1 for _ in range(50))
        assert affinity.owner(
            affinity.pinned(lambda: os.urandom(8).hex(), to="abc")
        ) == affinity.owner("abc")
    finally:
        affinity.configure(0, 1)
    with pytest.raises(ValueError, match="worker index"):
        affinity.configure(2, 2)


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A loopback ``voxgate serve --workers 2``; its base URL."""
    data = tmp_path_factory.mktemp("workers")
    port = free_port()
    log = (data / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxgate.cli", "serve", "--port", str(port), "--workers", "2"],
        env={**os.environ, "VOXGATE_ENGINE": "loopback", "VOXGATE_DATA_DIR": str(data)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        assert proc.wait(20) == 0  # stopped by a signal: a clean exit
        log.close()


async def _created(url: str) -> tuple[websockets.ClientConnection, dict]:
    ws = await websockets.connect(url)
    while True:
        ev = json.loads(await ws.recv())
        if ev["type"] == "session.created":
            return ws, ev["session"]


async def test_every_client_of_a_session_reaches_the_worker_that_holds_it(workers: str) -> None:
    base = workers.replace("http", "ws", 1)
    ids = [f"pin-{i}" for i in range(8)]
    assert {affinity.owner(i, 2) for i in ids} == {0, 1}  # both workers hold some
    for session_id in ids:
        first, created = await _created(f"{base}/ws/{session_id}")
        second, joined = await _created(f"{base}/ws/{session_id}")
        assert joined["id"] == created["id"]  # the same session, not a new one elsewhere
        await second.close()
        await first.close()


async def test_a_webrtc_session_is_joined_by_its_id_over_the_websocket(workers: str) -> None:
    for _ in range(4):
        async with RtcClient(workers) as peer:
            _, created = await peer.wait_for("session.created")
            assert peer.session_id
            ws, joined = await _created(f"{workers.replace('http', 'ws', 1)}/ws/{peer.session_id}")
            assert joined["id"] == created["session"]["id"]
            await ws.close()


async def test_http_answers_close_the_connection(workers: str) -> None:
    def get() -> str | None:
        with urllib.request.urlopen(f"{workers}/healthz", timeout=5) as response:
            return response.headers.get("connection")

    assert await asyncio.to_thread(get) == "close"


def test_a_front_that_lost_a_worker_exits_with_failure(tmp_path) -> None:
    """So that a service manager restarts it (systemd's ``Restart=on-failure``)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxgate.cli", "serve", "--port", str(port), "--workers", "2"],
        env={**os.environ, "VOXGATE_ENGINE": "loopback", "VOXGATE_DATA_DIR": str(tmp_path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        deadline = time.monotonic() + 60
        while len(workers := children.read_text().split()) < 2:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        os.kill(int(workers[0]), signal.SIGKILL)
        assert proc.wait(30) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
