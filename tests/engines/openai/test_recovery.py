"""The hosted model's server killed under load: every session reconnects and answers again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import free_port, serve_app, silence
from tests.engines.openai.test_engine import gateway_settings
from voxgate.bench.upstream import _tone
from voxgate.client import VoiceClient
from voxgate.server.app import create_app

pytestmark = pytest.mark.e2e

SESSIONS = 16
TURN = _tone(1000) + silence(1500)  # the simulator answers 200 ms after the tone with 1 s of audio


@contextlib.contextmanager
def simulator(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``bench/upstream.py`` in a process of its own on ``port``, killed (SIGKILL) at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxgate.bench.upstream", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "no simulator"
                time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


async def talk(client: VoiceClient) -> None:
    """A caller that keeps taking turns, in real time, until cancelled."""
    while True:
        await client.stream(TURN)


def answered_after(client: VoiceClient, mark: float) -> bool:
    """Whether a reply completed, with its audio, after ``mark`` (``time.monotonic()``)."""
    done = [
        at
        for at, ev in client.received.events
        if at > mark and ev["type"] == "response.done" and ev["response"]["status"] == "completed"
    ]
    return bool(done) and any(at > mark for at, _ in client.received.audio)


async def test_every_session_recovers_when_the_upstream_is_killed_under_load():
    port = free_port()
    settings = gateway_settings(port)
    with simulator(port) as proc:
        async with contextlib.AsyncExitStack() as stack:
            gateway = await stack.enter_async_context(serve_app(create_app(settings)))
            clients = [
                await stack.enter_async_context(
                    VoiceClient(f"ws://127.0.0.1:{gateway}/ws/{uuid.uuid4().hex}")
                )
                for _ in range(SESSIONS)
            ]
            talkers = []
            for client in clients:  # each at its own moment of the cycle
                talkers.append(asyncio.create_task(talk(client)))
                await asyncio.sleep(2.5 / SESSIONS)
            try:
                async with asyncio.timeout(30):
                    while not all(answered_after(c, 0) for c in clients):
                        await asyncio.sleep(0.1)
                os.kill(proc.pid, signal.SIGKILL)  # mid-load: some speak, some are answered
                proc.wait(10)
                killed_at = time.monotonic()
                await asyncio.sleep(0.5)
                with simulator(port):
                    async with asyncio.timeout(45):
                        while not all(answered_after(c, killed_at) for c in clients):
                            await asyncio.sleep(0.1)
            finally:
                for task in talkers:
                    task.cancel()
                await asyncio.gather(*talkers, return_exceptions=True)
            for client in clients:
                types = client.received.types()
                assert "voxgate.session.ended" not in types
                failed = [
                    ev
                    for _, ev in client.received.events
                    if ev["type"] == "response.done" and ev["response"]["status"] == "failed"
                ]
                for ev in failed:  # a reply the drop cut short says why
                    error = ev["response"]["status_details"]["error"]
                    assert error["code"] == "upstream_disconnected"
