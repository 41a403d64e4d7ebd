"""The loopback engine's typed turns: the reply echoes the user's words, and tells an image."""

from __future__ import annotations

import asyncio

from tests.images import create_image, data_url, png
from voxgate.engines.loopback import LoopbackEngine
from voxgate.protocol import Event


async def reply_to(engine: LoopbackEngine, stream, ev: Event) -> str:
    await engine.send(ev)
    await engine.send({"type": "response.create"})
    async with asyncio.timeout(5):
        async for out in stream:
            if out["type"] == "response.output_text.done":
                return str(out["text"])
    raise AssertionError("no reply")


async def test_an_image_is_told_by_its_type_and_size():
    engine = LoopbackEngine()
    stream = engine.events()
    image = png()
    said = await reply_to(engine, stream, create_image(data_url(image), "Look:"))
    assert said == f"Look: (an image/png image of {len(image)} bytes)"
    said = await reply_to(engine, stream, create_image(data_url(image)))
    assert said == f"(an image/png image of {len(image)} bytes)"
    await engine.close()
