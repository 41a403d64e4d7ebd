"""deploy/nginx/voxgate.conf as shipped, in front of two real ``voxgate serve`` nodes.

Debian's nginx (``apt-get install nginx``; ``.ci/run`` installs it) runs the config with only
its ports, nodes, certificate and paths changed (``tests/deploy/nginx.py``); outside CI the tests
skip without it. Nodes are told apart by asking each which sessions it holds, and by the node
nginx logs for each request.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.deploy.nginx import CONF, Nginx, Node, copy, nginx_binary, running, self_signed
from voxgate.bench.server import serve
from voxgate.client import VoiceClient
from voxgate.rtc_client import RtcClient
from voxgate.server import voice
from voxgate.settings import Settings

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    """Two loopback nodes behind the shipped config; its clients trust its certificate."""
    nginx_binary()  # skip before starting nodes
    with ExitStack() as stack, pytest.MonkeyPatch.context() as patch:
        nodes = []
        for index in range(2):
            data = tmp_path_factory.mktemp(f"node{index}")
            log = data / "server.log"
            env = {
                "VOXGATE_ENGINE": "loopback",
                "VOXGATE_DATA_DIR": str(data),
                "PYTHONUNBUFFERED": "1",  # uvicorn's access log, read by a test
            }
            served = stack.enter_context(serve(env=env, log=str(log)))
            nodes.append(Node(served.port, served.pid, log))
        prefix = tmp_path_factory.mktemp("nginx")
        proxy = stack.enter_context(running(nodes, prefix, free_port(), free_port()))
        # the WebSocket and WebRTC clients trust it through OpenSSL's default paths
        patch.setenv("SSL_CERT_FILE", str(proxy.cert))
        yield proxy


def test_health_and_page_over_https(nginx: Nginx) -> None:
    with nginx.client() as client:
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert health.headers["strict-transport-security"].startswith("max-age=")
        page = client.get("/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert client.get("/static/app.js").status_code == 200


def test_http_redirects_to_https_but_serves_certificate_challenges(nginx: Nginx) -> None:
    r = httpx.get(f"{nginx.http}/ws/abc?agent=demo", timeout=5)
    assert r.status_code == 301
    assert r.headers["location"] == "https://127.0.0.1/ws/abc?agent=demo"
    token = uuid.uuid4().hex
    (nginx.webroot / ".well-known" / "acme-challenge" / token).write_text("proof")
    r = httpx.get(f"{nginx.http}/.well-known/acme-challenge/{token}", timeout=5)
    assert r.status_code == 200 and r.text == "proof"


async def test_a_websocket_session_works_through_nginx(nginx: Nginx) -> None:
    async with VoiceClient(f"{nginx.wss}/ws/{uuid.uuid4().hex}") as client:
        await client.wait_for("session.created")
        await client.send_json({"type": "text", "text": "Hello through nginx."})
        _, done = await client.wait_for("response.done")
        assert done["response"]["output"][0]["content"][0]["text"] == "Hello through nginx."
        sent = 24000 * 2 // 2  # half a second of PCM16 24 kHz, in binary frames: echoed
        await client.stream(bytes(sent), realtime=False)
        async with asyncio.timeout(10):
            while sum(n for _, n in client.received.audio) < sent:
                await asyncio.sleep(0.05)


async def test_every_client_of_a_session_reaches_the_node_holding_it(nginx: Nginx) -> None:
    holders: set[int] = set()
    async with nginx.aclient() as http:
        for i in range(12):
            session_id = f"sticky-{i}-{uuid.uuid4().hex[:6]}"
            async with VoiceClient(f"{nginx.wss}/ws/{session_id}") as first:
                _, created = await first.wait_for("session.created")
                holders.add((await nginx.holder(session_id)).port)
                async with VoiceClient(f"{nginx.wss}/ws/{session_id}") as second:
                    _, joined = await second.wait_for("session.created")
                    assert joined["session"]["id"] == created["session"]["id"]
                    for _ in range(3):  # only the holder knows the session's participants
                        r = await http.get(f"/api/sessions/{session_id}/participants")
                        assert r.status_code == 200, r.text
                        assert len(r.json()["participants"]) == 2
    assert holders == {n.port for n in nginx.nodes}  # both nodes hold some


async def test_a_webrtc_offer_goes_to_the_node_of_the_session_in_its_body(nginx: Nginx) -> None:
    """The page sends its session's id in the offer's JSON body; nginx balances by it."""
    for i in range(3):
        session_id = f"offer-{i}-{uuid.uuid4().hex[:6]}"
        async with VoiceClient(f"{nginx.wss}/ws/{session_id}") as ws:
            await ws.wait_for("session.created")
            holder = await nginx.holder(session_id)
            since = nginx.logged()
            async with RtcClient(nginx.https, session_id=session_id) as peer:
                await peer.wait_for("session.created")
                assert peer.session_id == session_id
                participants = await nginx.participants(holder, session_id)
                assert participants is not None
                assert {p["transport"] for p in participants} == {"websocket", "webrtc"}
            assert await nginx.served("POST", "/api/webrtc/offer", since) == (
                session_id,
                holder.port,
            )


NAMED = [
    ("POST", "/v1/realtime/calls/{id}/hangup", None, None),
    ("GET", "/api/sessions/{id}/participants", None, None),
    ("GET", "/api/realtime/transcripts/{id}", None, None),
    ("GET", "/v1/realtime", "call_id={id}", None),
    ("GET", "/api/runs/run_unknown", "session_id={id}", None),
    ("POST", "/api/voice/turn", "agent=demo&conversation_id={id}", None),
    ("POST", "/v1/realtime/client_secrets", None, {"session_id": "{id}"}),
    ("POST", "/api/voice/chat", None, {"conversation_id": "{id}"}),
    ("POST", "/api/realtime/transcripts", None, {"entries": [], "call_id": "{id}"}),
]
"""Requests that name a session: in the path, the query or the JSON body."""


async def test_each_place_a_request_names_its_session_picks_its_node(nginx: Nginx) -> None:
    async with nginx.aclient() as http:
        for n in range(2):
            session_id = f"named-{n}-{uuid.uuid4().hex[:6]}"
            async with VoiceClient(f"{nginx.wss}/ws/{session_id}") as ws:
                await ws.wait_for("session.created")
                holder = await nginx.holder(session_id)
                for method, path, query, body in NAMED:
                    target = path.format(id=session_id)
                    since = nginx.logged()
                    r = await http.request(
                        method,
                        target + (f"?{query.format(id=session_id)}" if query else ""),
                        content=json.dumps(body).replace("{id}", session_id) if body else None,
                        headers={"Content-Type": "application/json"} if body else None,
                    )
                    assert r.status_code < 500, (target, r.status_code, r.text)
                    seen = await nginx.served(method, target, since)
                    assert seen == (session_id, holder.port), (method, target, query, body)


def test_requests_naming_no_session_spread_over_the_nodes(nginx: Nginx) -> None:
    since = nginx.logged()
    with nginx.client() as client:
        for _ in range(24):
            assert client.get("/api/client-config").status_code == 200
    lines = nginx.access_log.read_text().splitlines()[since:]
    unnamed = re.compile(r'"GET /api/client-config .* session= upstream=127\.0\.0\.1:(\d+)')
    ports = {int(m[1]) for line in lines if (m := unnamed.search(line))}
    assert ports == {n.port for n in nginx.nodes}


def test_voxgate_sees_the_callers_address_and_scheme(nginx: Nginx) -> None:
    probe = uuid.uuid4().hex
    transport = httpx.HTTPTransport(local_address="127.0.0.2", verify=nginx.tls())
    with nginx.client(transport=transport) as client:
        # what a caller claims is not believed: loopback would be exempt from rate limits
        r = client.get(f"/healthz?probe={probe}", headers={"X-Forwarded-For": "127.0.0.1"})
        assert r.status_code == 200
        # X-Forwarded-Proto: an address voxgate makes is https
        r = client.get("/api/conversations/")
        assert r.status_code == 307
        assert r.headers["location"] == f"{nginx.https}/api/conversations"
    deadline = time.monotonic() + 5
    while True:
        lines = [
            line
            for node in nginx.nodes
            for line in node.log.read_text().splitlines()
            if f"/healthz?probe={probe}" in line
        ]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(lines) == 1 and "127.0.0.2:" in lines[0] and "127.0.0.1:" not in lines[0], lines


def test_the_page_origin_is_voxgates_own_host(nginx: Nginx) -> None:
    host = f"voxgate.example.com:{nginx.https.rsplit(':', 1)[1]}"
    with nginx.client() as client:
        own = client.get("/api/client-config", headers={"Host": host, "Origin": f"https://{host}"})
        assert own.status_code == 200, own.text
        other = client.get(
            "/api/client-config", headers={"Host": host, "Origin": "https://elsewhere.example"}
        )
        assert other.status_code == 403


def test_body_limits_are_voxgates(nginx: Nginx) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    text = CONF.read_text()
    assert "    client_max_body_size 2m;\n" in text
    assert settings.max_event_bytes == 2 * 1024 * 1024
    upload = settings.record_max_upload_bytes + voice.FORM_OVERHEAD_BYTES
    assert f"        client_max_body_size {upload // 1024}k;\n" in text
    assert "location ~ ^/api/voice/(transcribe|turn)$ {" in text
    assert set(voice.UPLOAD_PATHS) == {"/api/voice/transcribe", "/api/voice/turn"}
    with nginx.client() as client:
        big = client.post(
            "/api/voice/chat",
            content=b"x" * (settings.max_event_bytes + 1),
            headers={"Content-Type": "application/json"},
        )
        assert big.status_code == 413 and big.json()["error"]["code"] == "request_too_large"
        clip = client.post(
            "/api/voice/turn", content=bytes(upload + 1), headers={"Content-Type": "audio/wav"}
        )
        assert clip.status_code == 413 and clip.json()["error"]["code"] == "request_too_large"
        # under nginx's limit a large clip reaches voxgate, which answers for itself
        fits = client.post(
            "/api/voice/turn",
            content=bytes(3 * 1024 * 1024),
            headers={"Content-Type": "audio/wav"},
        )
        assert fits.status_code != 413 and "error" in fits.json()


def test_metrics_stay_with_each_node(nginx: Nginx) -> None:
    with nginx.client() as client:
        assert client.get("/metrics").status_code == 404
    assert httpx.get(f"{nginx.nodes[0].url}/metrics", timeout=5).status_code == 200


async def test_a_stopped_node_sends_its_clients_to_another(nginx: Nginx) -> None:
    """Last, as it stops a node: SIGTERM (the units' KillSignal) closes its WebSockets with
    1012, and a client that comes back reaches the other node through nginx."""
    session_id = f"restart-{uuid.uuid4().hex[:6]}"
    async with VoiceClient(f"{nginx.wss}/ws/{session_id}") as client:
        await client.wait_for("session.created")
        holder = await nginx.holder(session_id)
        os.kill(holder.pid, signal.SIGTERM)
        await asyncio.wait_for(client.closed(), 20)
        assert client.close_code == 1012
    (other,) = (n for n in nginx.nodes if n is not holder)
    async with VoiceClient(f"{nginx.wss}/ws/{session_id}") as client:
        await client.wait_for("session.created")
        participants = await nginx.participants(other, session_id)
        assert participants is not None and len(participants) == 1


def test_the_documented_local_run_configures_what_is_tested(tmp_path: Path) -> None:
    """docs/deployment.md's three-node run: its sed and nginx.conf, run here, give the copy
    these tests run (nodes on 8001-8003), and nginx accepts them."""
    nginx = nginx_binary()
    docs = (CONF.parents[2] / "docs" / "deployment.md").read_text()
    block = docs.split("## Three nodes on your machine", 1)[1].split("```sh\n", 1)[1]
    block = block.split("\n```", 1)[0]
    commands = block[block.index("sed -e") : block.index("\nEOF\n") + 5]
    done = subprocess.run(
        ["bash", "-euc", commands],
        cwd=CONF.parents[2],
        env={**os.environ, "D": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    cert, key = self_signed(tmp_path)
    tested = copy([8001, 8002, 8003], 8080, 8443, cert, key, tmp_path)
    assert (tmp_path / "voxgate.conf").read_text() == tested
    where = ["-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    checked = subprocess.run(
        [
            nginx,
            "-t",
            *where,
            "-e",
            str(tmp_path / "error.log"),
            "-g",
            f"pid {tmp_path}/nginx.pid;",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr
