"""``voxgate`` as a user runs it: a real process, a real port."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.conftest import free_port
from voxgate.client import VoiceClient

pytestmark = pytest.mark.e2e


def run_voxgate(*args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "voxgate.cli", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_serve_help_lists_settings():
    out = subprocess.run(
        [sys.executable, "-m", "voxgate.cli", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--port" in out and "VOXGATE_VAD_SILENCE_DURATION_MS" in out


def test_invalid_setting_is_a_clear_error():
    proc = run_voxgate("serve", VOXGATE_VAD_SILENCE_DURATION_MS="soon")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "VOXGATE_VAD_SILENCE_DURATION_MS" in out and "Traceback" not in out


def test_engine_openai_without_a_key_is_a_clear_error():
    proc = run_voxgate("serve", VOXGATE_ENGINE="openai", VOXGATE_OPENAI_API_KEY="")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "VOXGATE_OPENAI_API_KEY" in out and "Traceback" not in out


async def test_serve_answers_health_and_a_session():
    port = free_port()
    proc = run_voxgate("serve", "--port", str(port))
    try:
        deadline = time.monotonic() + 120
        async with httpx.AsyncClient() as http:
            while True:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                try:
                    health = await http.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "voxgate serve did not come up"
                    await asyncio.sleep(0.3)
        assert health.json()["status"] == "ok"
        async with httpx.AsyncClient() as http, asyncio.timeout(60):  # the agents' prompts
            while (await http.get(f"http://127.0.0.1:{port}/healthz")).json()["ready"] is not True:
                await asyncio.sleep(0.2)
        async with VoiceClient(f"ws://127.0.0.1:{port}/ws/{uuid.uuid4().hex}") as client:
            await client.send_json({"type": "text", "text": "Say hello."})
            _, done = await client.wait_for("response.done", timeout=60)
            assert done["response"]["status"] == "completed"
            assert client.received.audio
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert "Application shutdown complete" in out, out


def voxgate_users(*args: str, data_dir: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voxgate.cli", "users", *args],
        env={**os.environ, "VOXGATE_DATA_DIR": data_dir},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_users_add_prints_a_key_that_works_against_a_running_server(tmp_path):
    from tests.server.wire import bearer, loopback_settings, serve

    data_dir = str(tmp_path / "data")
    async with serve(loopback_settings(data_dir=data_dir)) as server:
        added = await asyncio.to_thread(
            voxgate_users, "add", "alice", "--role", "admin", data_dir=data_dir
        )
        assert added.returncode == 0, added.stderr
        key = added.stdout.strip().splitlines()[-1]
        async with server.client() as http:
            me = await http.get("/api/me", headers=bearer(key))
            assert me.status_code == 200 and me.json()["user"]["name"] == "alice"
            assert me.json()["role"] == "admin"

            again = await asyncio.to_thread(voxgate_users, "add", "alice", data_dir=data_dir)
            assert (
                again.returncode == 1
                and "exists" in again.stderr
                and "Traceback" not in again.stderr
            )
            listed = await asyncio.to_thread(voxgate_users, "list", data_dir=data_dir)
            assert (
                "alice" in listed.stdout and "admin" in listed.stdout and key[:11] in listed.stdout
            )
            assert key not in listed.stdout

            disabled = await asyncio.to_thread(voxgate_users, "disable", "alice", data_dir=data_dir)
            assert disabled.returncode == 0, disabled.stderr
            deadline = time.monotonic() + 30  # the server's cache holds a lookup 5 s
            while (await http.get("/api/me", headers=bearer(key))).status_code != 403:
                assert time.monotonic() < deadline, "the server never saw the user disabled"
                await asyncio.sleep(0.5)
            await asyncio.to_thread(voxgate_users, "enable", "alice", data_dir=data_dir)

            rotated = await asyncio.to_thread(voxgate_users, "rotate", "alice", data_dir=data_dir)
            new_key = rotated.stdout.strip().splitlines()[-1]
            assert new_key.startswith("vg_") and new_key != key
            assert (await http.get("/api/me", headers=bearer(new_key))).status_code == 200
        unknown = await asyncio.to_thread(voxgate_users, "disable", "nobody", data_dir=data_dir)
        assert unknown.returncode == 1 and "no user 'nobody'" in unknown.stderr


async def test_serve_logs_json_lines_with_the_session_id():
    port = free_port()
    session_id = uuid.uuid4().hex
    proc = run_voxgate(
        "serve", "--port", str(port), "--log-format", "json", VOXGATE_ENGINE="loopback"
    )
    try:
        deadline = time.monotonic() + 120
        async with httpx.AsyncClient() as http:
            while True:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                try:
                    await http.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "voxgate serve did not come up"
                    await asyncio.sleep(0.3)
        async with VoiceClient(f"ws://127.0.0.1:{port}/ws/{session_id}") as client:
            await client.wait_for("session.created")
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]  # every line is JSON
    assert any(line["message"] == "Application startup complete." for line in lines)  # uvicorn's
    ours = [line for line in lines if line.get("session_id") == session_id]
    assert ours and all(line["participant_id"].startswith("participant_") for line in ours)


def test_uvicorn_takes_frames_as_large_as_the_largest_message() -> None:
    from voxgate.cli import WS_MAX_SIZE, uvicorn_options
    from voxgate.settings import Settings
    from voxgate.wire import WireLimits

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert uvicorn_options(settings)["ws_max_size"] == WS_MAX_SIZE  # 4 MiB images fit
    big = Settings(_env_file=None, max_image_bytes=32 * 1024 * 1024)  # type: ignore[call-arg]
    largest = WireLimits.from_settings(big).max_message_bytes
    assert largest > WS_MAX_SIZE
    assert uvicorn_options(big)["ws_max_size"] > largest
