"""The recorder in a real ``voxgate serve`` killed with SIGKILL: what was said is still there.

The server writes a live conversation at least every half second without being asked; after
``kill -9`` and a restart on the same store, the conversation holds every turn stored before
the kill (at most the turn in flight is lost) and resumes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid

import pytest

from tests.store.conftest import database_url  # noqa: F401  (the fixture)
from voxgate.bench.server import serve
from voxgate.client import VoiceClient
from voxgate.store import Conversations, Database

pytestmark = pytest.mark.e2e


def env(url: str) -> dict[str, str]:
    return {"VOXGATE_ENGINE": "loopback", "VOXGATE_AGENTS": "none", "VOXGATE_DATABASE_URL": url}


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
    database = await Database.open(database_url)  # the test reads the store directly
    store = Conversations(database)
    try:
        with serve(env=env(url), timeout=60) as first:
            async with VoiceClient(f"{first.ws}/ws/{conversation_id}") as client:
                for n in range(3):
                    await turn(client, f"Turn {n}.")
                expected = [text for n in range(3) for text in (f"Turn {n}.", f"Turn {n}.")]
                async with asyncio.timeout(30):  # written while live, nobody asking
                    while await stored_texts(store, conversation_id) != expected:
                        await asyncio.sleep(0.1)
                await turn(client, "In flight.")
                os.kill(first.pid, signal.SIGKILL)
        texts = await stored_texts(store, conversation_id)
        assert texts[:6] == expected
        assert set(texts[6:]) <= {"In flight."}  # the turn in flight, if it made it
        with serve(env=env(url), timeout=60) as second:
            async with VoiceClient(f"{second.ws}/ws/{conversation_id}") as client:
                await turn(client, "After the restart.")
                restored = [
                    ev["item"]["content"][0]["text"]
                    for _, ev in client.received.events
                    if ev["type"] == "conversation.item.added"
                ]
                assert restored[:6] == expected
        async with asyncio.timeout(30):  # and stored again, by the server that stopped
            while "After the restart." not in await stored_texts(store, conversation_id):
                await asyncio.sleep(0.1)
    finally:
        await database.close()
