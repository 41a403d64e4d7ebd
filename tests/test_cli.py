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
