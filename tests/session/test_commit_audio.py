"""``commit_audio`` on the local engine: an empty buffer gets only its error, no reply."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import session_url
from voxgate.client import VoiceClient

pytestmark = pytest.mark.e2e


async def test_an_empty_commit_audio_is_only_the_error(server_url):
    async with VoiceClient(session_url(server_url)) as client:
        await client.send_json(
            {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
            }
        )
        index, _ = await client.wait_for(
            lambda ev: (
                ev["type"] == "session.updated"
                and ev["session"]["audio"]["input"]["turn_detection"] is None
            )
        )
        await client.send_json({"type": "commit_audio"})
        _, error = await client.wait_for("error", after=index)
        assert error["error"]["code"] == "input_audio_buffer_commit_empty"
        await asyncio.sleep(1.0)
        after = client.received.types()[index + 1 :]
        assert after == ["error"], after
