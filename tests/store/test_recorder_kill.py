"""The recorder in a real ``voxgate serve`` killed with SIGKILL: what was said is still there.

The server writes a live conversation at least every half second without being asked; after
``kill -9`` and a restart on the same store, the conversation holds every turn stored before
the kill (at most the turn in flight is lost) and resumes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.conftest import free_port
from tests.store.conftest import database_url  # noqa: F401  (the fixture)
from voxgate.client import VoiceClient
from voxgate.store import Conversations, Database

pytestmark = pytest.mark.e2e


def serve(port: int, url: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "VOXGATE_ENGINE": "loopback",
        "VOXGATE_AGENTS": "none",
        "VOXGATE_DATABASE_URL": url,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "voxgate.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def until_up(proc: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as http:
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                await http.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                return
            except httpx.TransportError:
                assert time.monotonic() < deadline, "voxgate serve did not come up"
                await asyncio.sleep(0.2)


async def turn(client: VoiceClient, text: str) -> None:
    mark = len(client.received.events)
    await client.send_json({"type": "text", "text": text})
    _, done = await client.wait_for("response.done", after=mark, timeout=30)
    assert done["response"]["status"] == "completed"


async def stored_texts(store: Conversations, conversation_id: str) -> list[str]:
    stored = await store.get(conversation_id)
    return [i.text for i in stored.items if i.type == "message"] if stored else []


async def test_kill_9_keeps_what_was_stored_and_the_conversation_resumes(
    database_url: str,  # noqa: F811
) -> None:
    url = database_url.replace("+aiosqlite", "").replace("+asyncpg", "")
    conversation_id = "kill_" + uuid.uuid4().hex[:8]
    port = free_port()
    proc = serve(port, url)
    database = await Database.open(database_url)  # the test reads the store directly
    store = Conversations(database)
    try:
        await until_up(proc, port)
        async with VoiceClient(f"ws://127.0.0.1:{port}/ws/{conversation_id}") as client:
            for n in range(3):
                await turn(client, f"Turn {n}.")
            expected = [text for n in range(3) for text in (f"Turn {n}.", f"Turn {n}.")]
            async with asyncio.timeout(30):  # written while live, nobody asking
                while await stored_texts(store, conversation_id) != expected:
                    await asyncio.sleep(0.1)
            await turn(client, "In flight.")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        texts = await stored_texts(store, conversation_id)
        assert texts[:6] == expected
        assert set(texts[6:]) <= {"In flight."}  # the turn in flight, if it made it
        proc = serve(port, url)
        await until_up(proc, port)
        async with VoiceClient(f"ws://127.0.0.1:{port}/ws/{conversation_id}") as client:
            await turn(client, "After the restart.")
            restored = [
                ev["item"]["content"][0]["text"]
                for _, ev in client.received.events
                if ev["type"] == "conversation.item.added"
            ]
            assert restored[:6] == expected
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=30)
        await database.close()
    async with asyncio.timeout(30):
        while "After the restart." not in await stored_texts(store, conversation_id):
            await asyncio.sleep(0.1)
