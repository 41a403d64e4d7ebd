"""The local engine readies its model for the next turn once a reply is said in words."""

from __future__ import annotations

import asyncio

from tests.engines.test_truncation import exchange, new_engine, recording, respond  # noqa: F401


async def test_a_reply_in_words_readies_the_next_turn_with_it(recording):  # noqa: F811
    models, llm = recording
    engine, stream = new_engine(models)
    await exchange(engine, 1)
    await engine.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Say hello."}],
            },
        }
    )
    done = await respond(engine, stream)
    assert done["response"]["status"] == "completed"
    async with asyncio.timeout(10):
        while not llm.prefilled:
            await asyncio.sleep(0.01)
    said = done["response"]["output"][0]["content"][0]["text"]
    assert llm.prefilled[-1][-1] == {"role": "assistant", "content": said}
    assert llm.prefilled[-1][-2]["content"] == "Say hello."
    await engine.close()


async def test_an_out_of_band_reply_readies_nothing(recording):  # noqa: F811
    models, llm = recording
    engine, stream = new_engine(models)
    await exchange(engine, 1)
    await engine.send(
        {
            "type": "response.create",
            "response": {"conversation": "none", "output_modalities": ["text"]},
        }
    )
    while (ev := await asyncio.wait_for(anext(stream), 60))["type"] != "response.done":
        pass
    assert ev["response"]["status"] == "completed"
    await asyncio.sleep(0.2)
    assert llm.prefilled == []
    await engine.close()
