"""The Cartesia provider against a fake Cartesia server on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

from tests.fake_cartesia import API_KEY, STALE, FakeCartesia
from voxgate.components.tts import SpeechContext, TTSError
from voxgate.components.tts.cartesia import CartesiaTTS


def provider(fake: FakeCartesia, **extra) -> CartesiaTTS:
    options = {"api_key": API_KEY, "voice_id": "voice-1", "model_id": "sonic-test"}
    return CartesiaTTS(base_url=fake.url, version="2026-03-01", **{**options, **extra})


async def spoken(ctx: SpeechContext, text: str) -> bytes:
    return b"".join([chunk async for chunk in ctx.speak(text)])


async def test_a_reply_is_one_context_of_continued_phrases(speech):
    async with FakeCartesia(speech) as fake:
        tts = provider(fake)
        reply = tts.context()
        first = await spoken(reply, "Hello there.")
        second = await spoken(reply, "How are you today?")
        reply.end()
        assert first == speech("Hello there.") and second == speech("How are you today?")
        await asyncio.sleep(0.1)
        assert fake.queries == [{"api_key": [API_KEY], "cartesia_version": ["2026-03-01"]}]
        requests = fake.requests()
        (context_id,) = {r["context_id"] for r in requests}
        assert [(r["transcript"], r["continue"], r.get("flush", False)) for r in requests] == [
            ("Hello there.", True, False),
            ("", True, True),
            ("How are you today?", True, False),
            ("", True, True),
            ("", False, False),
        ]
        for r in requests:
            assert r["model_id"] == "sonic-test"
            assert r["voice"] == {"mode": "id", "id": "voice-1"}
        next_reply = tts.context()
        await spoken(next_reply, "Bye.")
        assert fake.requests()[-2]["context_id"] not in (context_id,)
        assert len(fake.connections) == 1  # one connection for the session
        await tts.aclose()


async def test_a_reply_at_another_speed_asks_for_it_within_cartesias_range(speech):
    async with FakeCartesia(speech) as fake:
        tts = provider(fake)
        for speed in (1.0, 1.25, 0.25):
            reply = tts.context(speed=speed)
            await spoken(reply, "Hello there.")
            reply.end()
        said = [r for r in fake.requests() if r["transcript"]]
        assert [r.get("generation_config") for r in said] == [
            None,
            {"speed": 1.25},
            {"speed": 0.6},  # the slowest Cartesia takes
        ]
        await tts.aclose()


async def test_audio_streams_before_the_phrase_is_finished(speech):
    async with FakeCartesia(speech) as fake:
        tts = provider(fake)
        fake.hold.clear()  # the server stops after the first chunk
        chunks = aiter(tts.context().speak("A sentence long enough for several chunks."))
        first = await anext(chunks)
        assert first and not fake.hold.is_set()
        fake.hold.set()
        rest = b"".join([chunk async for chunk in chunks])
        assert first + rest == speech("A sentence long enough for several chunks.")
        await tts.aclose()


async def test_cancel_stops_the_context_and_stale_audio_is_dropped(speech):
    async with FakeCartesia(speech, stale_after_cancel=True) as fake:
        tts = provider(fake)
        fake.hold.clear()
        reply = tts.context()
        chunks = aiter(reply.speak("Tell me a very long story about a knight."))
        await anext(chunks)
        reply.cancel()
        for _ in range(100):
            if fake.cancelled:
                break
            await asyncio.sleep(0.01)
        assert fake.cancelled == [fake.requests()[0]["context_id"]]
        cancel = fake.received[-1]
        assert cancel == {"context_id": fake.cancelled[0], "cancel": True}
        fake.hold.set()
        audio = await spoken(tts.context(), "Okay.")
        assert audio == speech("Okay.") and STALE not in audio
        await tts.aclose()


async def test_a_bad_key_is_a_clear_error(speech):
    async with FakeCartesia(speech) as fake:
        tts = provider(fake, api_key="wrong")
        with pytest.raises(TTSError, match=r"HTTP 401.*Invalid API key"):
            await spoken(tts.context(), "Hello.")
        await tts.aclose()


async def test_a_server_error_is_raised(speech):
    async with FakeCartesia(speech) as fake:
        tts = provider(fake, voice_id="no-such-voice")
        with pytest.raises(TTSError, match="voice no-such-voice not found"):
            await spoken(tts.context(), "Hello.")
        await tts.aclose()


async def test_unreachable_service_is_a_clear_error():
    from tests.conftest import free_port

    tts = CartesiaTTS(api_key=API_KEY, voice_id="v", base_url=f"ws://127.0.0.1:{free_port()}")
    with pytest.raises(TTSError, match="cannot reach Cartesia"):
        await spoken(tts.context(), "Hello.")


async def test_a_dropped_connection_is_reopened(speech):
    async with FakeCartesia(speech) as fake:
        tts = provider(fake)
        assert await spoken(tts.context(), "One.") == speech("One.")
        await fake.drop()
        await asyncio.sleep(0.1)
        assert await spoken(tts.context(), "Two.") == speech("Two.")
        assert len(fake.connections) == 2 and tts.connects == 2
        await tts.aclose()


async def test_a_drop_mid_phrase_is_an_error(speech):
    async with FakeCartesia(speech) as fake:
        tts = provider(fake)
        fake.hold.clear()
        chunks = aiter(tts.context().speak("A phrase cut in the middle."))
        await anext(chunks)
        await fake.drop()
        with pytest.raises(TTSError, match="dropped"):
            async for _ in chunks:
                pass
        fake.hold.set()
        await tts.aclose()


async def test_a_phrase_after_a_long_pause_opens_a_new_context(speech):
    async with FakeCartesia(speech) as fake:
        tts = provider(fake)
        tts.context_idle_s = 0.0  # every pause counts as long
        reply = tts.context()
        await spoken(reply, "One.")
        await asyncio.sleep(0.01)
        assert await spoken(reply, "Two.") == speech("Two.")
        first, second = (r["context_id"] for r in fake.requests() if r["transcript"])
        assert first != second
        await tts.aclose()


def test_settings_need_a_key_and_a_voice_and_describe_the_provider():
    from pydantic import ValidationError

    from voxgate.settings import Settings

    base = {"_env_file": None, "engine": "openai", "openai_api_key": "sk-x"}
    with pytest.raises(ValidationError, match="VOXGATE_CARTESIA_API_KEY"):
        Settings(**base, openai_voice_provider="cartesia", cartesia_voice_id="v")
    settings = Settings(
        **base,
        openai_voice_provider="cartesia",
        cartesia_api_key="ck",
        cartesia_voice_id="v",
        cartesia_base_url="ws://127.0.0.1:1/",
    )
    tts = CartesiaTTS.from_settings(settings)
    request = tts.request("ctx", "Hi.")
    assert request["voice"] == {"mode": "id", "id": "v"}
    assert request["model_id"] == "sonic-3.5" and request["continue"] is True
    assert request["output_format"]["sample_rate"] == tts.sample_rate == 24000
    assert "language" not in request
