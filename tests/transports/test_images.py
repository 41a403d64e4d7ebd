"""Images from a client, on every transport (the loopback engine: no models).

``/ws``, ``/v1/realtime`` and the WebRTC data channel take a ``conversation.item.create`` with
an ``input_image`` part, echo it, and the reply tells it; a bad image is one ``error`` naming
the part and the event, and the connection goes on with nothing stored.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import websockets

from tests.conftest import serve_app
from tests.images import JPEG, create_image, data_url, png
from tests.server.wire import loopback_settings
from tests.transports.test_bounds import next_of, still_open
from voxgate.protocol import validate_server_event
from voxgate.rtc_client import RtcClient
from voxgate.server.app import create_app

pytestmark = pytest.mark.e2e

SMALL = png(4, 4)
# over max_event_bytes (2 MiB) as base64, under max_image_bytes (4 MiB)
LARGE = JPEG + b"\0" * (3 * 1024 * 1024)
BAD = [
    (data_url(JPEG + b"\0" * (4 * 1024 * 1024), "image/jpeg"), "image_too_large"),
    (data_url(JPEG, "image/png"), "invalid_image"),  # not the type it says
    ("data:image/png;base64,%%%%", "invalid_image"),
    ("https://example.com/cat.png", "invalid_image"),
    (data_url(b"GIF? no", "text/plain"), "invalid_image"),
]


@pytest_asyncio.fixture(scope="module")
async def base() -> AsyncIterator[str]:
    async with serve_app(create_app(loopback_settings())) as port:
        yield f"127.0.0.1:{port}"


def paths(base: str) -> dict[str, str]:
    return {
        "ws": f"ws://{base}/ws/{uuid.uuid4().hex}",
        "realtime": f"ws://{base}/v1/realtime?model=gpt-realtime",
    }


async def asked(ws: Any, create: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The echo of ``create`` and the reply's words."""
    await ws.send(json.dumps(create))
    added = await next_of(ws, "conversation.item.added")
    await ws.send(json.dumps({"type": "response.create"}))
    done = await next_of(ws, "response.output_text.done")
    return added, done["text"]


@pytest.mark.parametrize("path", ["ws", "realtime"])
async def test_an_image_is_taken_echoed_and_answered(base, path):
    async with websockets.connect(paths(base)[path], max_size=None) as ws:
        url = data_url(SMALL)
        added, said = await asked(ws, create_image(url, "What is this?"))
        validate_server_event(added)
        assert added["item"]["content"][1] == {
            "type": "input_image",
            "image_url": url,
            "detail": "auto",
        }
        assert said == f"What is this? (an image/png image of {len(SMALL)} bytes)"
        # a photo's worth: the message is over the event limit, the image is not
        added, said = await asked(ws, create_image(data_url(LARGE, "image/jpeg")))
        assert said == f"(an image/jpeg image of {len(LARGE)} bytes)"


@pytest.mark.parametrize("path", ["ws", "realtime"])
async def test_a_bad_image_is_an_error_naming_the_part_and_nothing_is_kept(base, path):
    async with websockets.connect(paths(base)[path], max_size=None) as ws:
        for url, code in BAD:
            await ws.send(json.dumps(create_image(url, "Look", event_id="evt_bad")))
            error = (await next_of(ws, "error"))["error"]
            assert error["code"] == code, url[:40]
            assert error["param"] == "item.content.1.image_url"
            assert error["event_id"] == "evt_bad"
            assert error["message"]
        await still_open(ws)
        # nothing was added: the next reply echoes only what came after
        _, said = await asked(ws, create_image(data_url(SMALL)))
        assert said == f"(an image/png image of {len(SMALL)} bytes)"


async def test_over_webrtc_an_image_is_taken_and_a_large_one_echoed_without_its_data(base):
    async with RtcClient(f"http://{base}") as peer:
        url = data_url(SMALL)
        peer.send(create_image(url, "Over the data channel", event_id="evt_rtc"))
        _, added = await peer.wait_for("conversation.item.added", timeout=10)
        assert added["item"]["content"][1]["image_url"] == url
        peer.send({"type": "conversation.item.create", "item": {"type": "message"}})  # invalid
        _, error = await peer.wait_for("error", timeout=10)
        assert error["error"]["code"] == "invalid_value"
        peer.send(create_image("https://example.com/x.png", event_id="evt_remote"))
        _, error = await peer.wait_for(
            lambda ev: ev["type"] == "error" and ev["error"]["event_id"] == "evt_remote",
            timeout=10,
        )
        assert error["error"]["code"] == "invalid_image"
        # a photo sent by another client over a WebSocket: too large for this data channel
        url = f"ws://{base}/ws/{peer.session_id}"
        async with websockets.connect(url, max_size=None) as ws:
            await next_of(ws, "session.created")
            await ws.send(json.dumps(create_image(data_url(LARGE, "image/jpeg"), "A photo")))
            mine = await next_of(ws, "conversation.item.added")
            assert mine["item"]["content"][1]["image_url"].startswith("data:image/jpeg")

            def photo(ev: dict[str, Any]) -> bool:
                return (
                    ev["type"] == "conversation.item.added"
                    and ev["item"]["id"] == mine["item"]["id"]
                )

            _, theirs = await peer.wait_for(photo, timeout=10)
            assert theirs["item"]["content"] == [
                {"type": "input_text", "text": "A photo"},
                {"type": "input_image", "detail": "auto"},
            ]
            validate_server_event(theirs)


async def test_the_page_is_told_the_image_limit(base):
    async with httpx.AsyncClient() as http:
        config = (await http.get(f"http://{base}/api/client-config")).json()
    assert config["images"] == {"max_bytes": 4 * 1024 * 1024}
