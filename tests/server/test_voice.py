"""Record-and-send (``/api/voice/*``): clips in every format a recorder makes, malformed uploads
and bodies refused whole with the right 4xx, the agent's tools, one conversation across
requests, the feature flag and the key."""

from __future__ import annotations

import base64
import dataclasses
import io
import textwrap
import uuid
import wave
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.clips import FORMATS, encode, tone
from tests.conftest import serve_app, silence
from tests.server.wire import API_KEY, Served, bearer, loopback_settings, serve
from voxgate.agents.testing import ScriptedModel, Step, call, say
from voxgate.audio import SAMPLE_RATE, resample
from voxgate.audio_files import wav_bytes
from voxgate.components.tts.piper import PiperTTS
from voxgate.components.vad.silero import SileroVAD
from voxgate.engines.local import LocalModels
from voxgate.server.app import create_app
from voxgate.settings import Settings

QUESTION = "What is the capital of France?"
WEATHER = "What is the weather in Paris?"
AGENTS = '''
from voxgate.agents import Agent, tool


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city.

    Args:
        city: The city.
    """
    return f"Sunny and 21 degrees in {city}."


agent = Agent("weather", "Be brief.", tools=[get_weather])
'''


def _clip(data: bytes, name: str = "clip.webm", mime: str = "audio/webm") -> dict[str, Any]:
    return {"file": (name, data, mime)}


def _error(r: httpx.Response, status: int, code: str | None = None) -> str:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code, error
    return str(error["message"])


def _pcm(wav: bytes) -> bytes:
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SAMPLE_RATE)
        return w.readframes(w.getnframes())


def _words(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum() or c.isspace())


# -- refusals: a loopback server, no models ---------------------------------------------------


@pytest_asyncio.fixture(scope="module")
async def loopback() -> AsyncIterator[Served]:
    settings = loopback_settings(record_max_upload_bytes=256 * 1024, record_max_seconds=5)
    async with serve(settings) as served:
        yield served


@pytest.mark.parametrize("route", ["/api/voice/transcribe", "/api/voice/turn"])
async def test_malformed_uploads_are_refused_whole(loopback, route):
    conversation = f"conv-{uuid.uuid4().hex}"
    webm = encode(tone(2.0), "webm")
    cases: Iterable[tuple[dict[str, Any], int, str]] = [
        (_clip(b"these bytes are no recording"), 415, "unsupported_audio_format"),
        (_clip(webm[: len(webm) // 2]), 400, "invalid_audio_file"),
        (_clip(b""), 400, "empty_file"),
        (_clip(wav_bytes(tone(6.0))), 413, "file_too_large"),  # 288 KB > 256 KiB
        (_clip(encode(tone(6.0), "wav")), 413, "request_too_large"),  # over the body's limit too
        (_clip(encode(tone(6.0), "webm")), 413, "audio_too_long"),  # 6 s > 5 s
        (_clip(wav_bytes(silence(1000)), "a.wav", "audio/wav"), 422, "silent_audio"),
    ]
    async with loopback.client() as http:
        for files, status, code in cases:
            r = await http.post(route, files=files, data={"conversation_id": conversation})
            _error(r, status, code)
        r = await http.post(route, data={"conversation_id": conversation})
        assert "field 'file'" in _error(r, 400, "no_file")
        if route.endswith("/turn"):
            r = await http.post(
                route,
                params={"conversation_id": "elsewhere"},
                files=_clip(webm),
                data={"conversation_id": conversation},
            )
            assert "send it once" in _error(r, 400, "invalid_conversation_id")
        r = await http.post(route, content=webm, headers={"Content-Type": "audio/webm"})
        assert "multipart/form-data" in _error(r, 415, "unsupported_media_type")
        r = await http.post(route, content=b"x" * 400_000, headers={"Content-Type": "audio/webm"})
        _error(r, 413, "request_too_large")  # past the body limit: refused unread
        r = await http.post(
            route,
            content=b"--x\r\nContent-Disposition: form-data; name=file\r\n\r\nabc",
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        )
        _error(r, 400)  # a body cut off mid-part
        r = await http.post(route, content=webm, headers={"Content-Type": "multipart/form-data"})
        assert "boundary" in _error(r, 400, "invalid_multipart")
    assert loopback.gateway.registry.get(conversation) is None  # nothing was written anywhere


async def test_bad_json_bodies(loopback):
    async with loopback.client() as http:
        for route in ("/api/voice/chat", "/api/voice/tts"):
            r = await http.post(route, content=b'{"text": "hi"', headers=_json)
            assert "not valid JSON" in _error(r, 400, "invalid_json")
            r = await http.post(
                route, content=b'{"text": "hi"}', headers={"Content-Type": "text/plain"}
            )
            _error(r, 415, "unsupported_media_type")
            r = await http.post(route, json={"text": 3})
            assert _error(r, 422, "invalid_value").startswith("text:")
            r = await http.post(route, json={"text": "hi", "colour": "red"})
            _error(r, 422, "invalid_value")
            r = await http.post(route, json={"text": "   "})
            _error(r, 422, "invalid_value")
            r = await http.post(route, json=[{"text": "hi"}])
            _error(r, 422, "invalid_value")
        r = await http.post("/api/voice/tts", json={"text": "hi", "format": "flac"})
        assert "format" in _error(r, 422, "invalid_value")
        r = await http.post("/api/voice/tts", json={"text": "hi", "voice": "alloy"})
        assert "'joe'" in _error(r, 400, "unknown_voice")
        r = await http.post("/api/voice/tts", json={"text": "word " * 1000})
        _error(r, 422, "text_too_long")
        r = await http.post("/api/voice/chat", json={"text": "hi", "conversation_id": "a b"})
        _error(r, 400, "invalid_conversation_id")
        r = await http.post("/api/voice/chat", json={"text": "hi", "agent": "nobody"})
        assert "no agents" in _error(r, 400, "unknown_agent")


_json = {"Content-Type": "application/json"}


async def test_engine_loopback_says_what_it_lacks(loopback):
    async with loopback.client() as http:
        r = await http.post("/api/voice/chat", json={"text": "Hello."})
        assert "loopback" in _error(r, 503, "engine_unsupported")
        for route in ("/api/voice/transcribe", "/api/voice/turn"):
            r = await http.post(route, files=_clip(encode(tone(1.0), "webm")))
            _error(r, 503, "engine_unsupported")
        config = (await http.get("/api/client-config")).json()["record_and_send"]
        assert config == {"enabled": False, "max_seconds": 5}  # the page offers no button
    assert len(loopback.gateway.registry) == 0


async def test_the_flag_off_hides_every_route():
    settings = loopback_settings(record_and_send_enabled=False)
    async with serve(settings) as served, served.client() as http:
        for route in ("transcribe", "turn"):
            r = await http.post(f"/api/voice/{route}", files=_clip(encode(tone(1.0), "webm")))
            assert "VOXGATE_RECORD_AND_SEND_ENABLED" in _error(r, 404, "not_found")
        for route in ("chat", "tts"):
            r = await http.post(f"/api/voice/{route}", json={"text": "Hello."})
            _error(r, 404, "not_found")


async def test_keys_when_configured():
    async with serve(loopback_settings(api_keys=[API_KEY])) as served, served.client() as http:
        for key, status in ((None, 401), ("sk-wrong", 401), (API_KEY, 415)):
            r = await http.post(
                "/api/voice/transcribe", files=_clip(b"not audio"), headers=bearer(key)
            )
            assert r.status_code == status, r.text
        for key, status in ((None, 401), (API_KEY, 400)):
            r = await http.post(
                "/api/voice/tts", json={"text": "Hi.", "voice": "x"}, headers=bearer(key)
            )
            assert r.status_code == status, r.text


# -- the agent's tools: a scripted model on the local engine ---------------------------------


class RecordingModel(ScriptedModel):
    """The scripted model, keeping every prompt it was given."""

    def __init__(self, script: Iterable[Step]) -> None:
        super().__init__(list(script), list)
        self.prompts: list[list[dict[str, Any]]] = []

    async def stream(self, messages, **kw):  # type: ignore[no-untyped-def,override]
        self.prompts.append([dict(m) for m in messages])
        async for piece in super().stream(messages, **kw):
            yield piece


class _Unheard:
    """Speech components a text-only test never uses."""

    sample_rate = 16000

    def transcribe(self, pcm16: bytes, *, prompt: str = "") -> str:
        raise AssertionError("a chat turn was transcribed")

    def synthesize(self, text: str) -> Iterable[bytes]:
        raise AssertionError("a text reply was spoken")


@pytest.fixture
def agents_file(tmp_path: Path) -> Path:
    path = tmp_path / "weather_agents.py"
    path.write_text(textwrap.dedent(AGENTS))
    return path


def _settings(**fields: Any) -> Settings:
    return Settings(_env_file=None, sessions_per_minute=0, **fields)  # type: ignore[call-arg]


def _scripted_settings(agents_file: Path, **extra: Any) -> Settings:
    return _settings(agents=str(agents_file), **extra)


async def test_chat_runs_the_agent_s_tool_and_returns_the_reply_after_it(agents_file):
    llm = RecordingModel([call("get_weather", city="Paris"), say("It is sunny in Paris.")])
    models = LocalModels(new_vad=SileroVAD, stt=_Unheard(), llm=llm, tts=_Unheard())  # type: ignore[arg-type]
    app = create_app(_scripted_settings(agents_file), models=models)
    async with serve_app(app) as port, httpx.AsyncClient(timeout=30) as http:
        config = (await http.get(f"http://127.0.0.1:{port}/api/client-config")).json()
        assert config["record_and_send"] == {"enabled": True, "max_seconds": 60}
        r = await http.post(f"http://127.0.0.1:{port}/api/voice/chat", json={"text": WEATHER})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["text"] == "It is sunny in Paris."
        [tool_call] = body["tool_calls"]
        assert tool_call["name"] == "get_weather"
        assert tool_call["output"] == "Sunny and 21 degrees in Paris."  # run by the server

        # the same conversation: the model reads the first turn in the second's prompt
        llm.script.append(say("You are welcome."))
        again = {"text": "Thanks!", "conversation_id": body["conversation_id"]}
        r = await http.post(f"http://127.0.0.1:{port}/api/voice/chat", json=again)
        assert r.status_code == 200, r.text
        assert r.json() == {
            "conversation_id": body["conversation_id"],
            "text": "You are welcome.",
            "tool_calls": [],
        }
        said = [m.get("content") for m in llm.prompts[-1]]
        assert WEATHER in said and "Thanks!" in said
        session = app.state.gateway.registry.get(body["conversation_id"])
        assert session is not None and session.state["output_modalities"] == ["audio"]  # put back


async def test_a_tool_slower_than_the_request_bound_is_a_504(agents_file, tmp_path):
    slow = tmp_path / "slow_agents.py"
    slow.write_text(
        AGENTS.replace("def get_weather", "async def get_weather").replace(
            "    return f", "    import asyncio\n    await asyncio.sleep(30)\n    return f"
        )
    )
    llm = RecordingModel([call("get_weather", city="Paris"), say("Sunny.")])
    models = LocalModels(new_vad=SileroVAD, stt=_Unheard(), llm=llm, tts=_Unheard())  # type: ignore[arg-type]
    app = create_app(_scripted_settings(slow, record_timeout_s=1.0), models=models)
    async with serve_app(app) as port, httpx.AsyncClient(timeout=30) as http:
        r = await http.post(f"http://127.0.0.1:{port}/api/voice/chat", json={"text": WEATHER})
    assert "record_timeout_s" in _error(r, 504, "timeout")


# -- real speech: Whisper hears each format, Piper speaks -----------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("name", FORMATS)
async def test_transcribe_hears_each_format(server_url, speech, name):
    clip = encode(silence(300) + speech(QUESTION) + silence(300), name)
    async with httpx.AsyncClient(timeout=60) as http:
        r = await http.post(
            f"{server_url.replace('ws://', 'http://')}/api/voice/transcribe",
            files=_clip(clip, f"question.{name}", "application/octet-stream"),
        )
    assert r.status_code == 200, r.text
    assert "capital of france" in _words(r.json()["text"])


@pytest.fixture(scope="module")
def steady_voice() -> PiperTTS:
    """Piper without its random noise: the reply sounds the same every run, as Whisper hears it."""
    return PiperTTS(noise_scale=0.0, noise_w_scale=0.0)


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["wav", "webm", "ogg", "mp3"])
async def test_a_turn_transcribes_runs_the_tool_and_speaks_the_reply(
    agents_file, models, speech, steady_voice, name
):
    llm = RecordingModel([call("get_weather", city="Paris"), say("It is sunny in Paris.")])
    scripted = dataclasses.replace(models, llm=llm, tts=steady_voice)
    app = create_app(_scripted_settings(agents_file), models=scripted)
    async with serve_app(app) as port, httpx.AsyncClient(timeout=60) as http:
        clip = encode(silence(200) + speech(WEATHER) + silence(200), name)
        r = await http.post(
            f"http://127.0.0.1:{port}/api/voice/turn", files=_clip(clip, f"q.{name}")
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert "weather in paris" in _words(body["transcript"])
        assert body["text"] == "It is sunny in Paris."
        assert body["tool_calls"][0]["output"] == "Sunny and 21 degrees in Paris."
        assert body["audio_format"] == "audio/wav"
        heard = models.transcribe(
            resample(_pcm(base64.b64decode(body["audio"])), SAMPLE_RATE, 16000)
        )
        assert "sunny in paris" in _words(heard)
        session = app.state.gateway.registry.get(body["conversation_id"])
        assert session is not None
        assert session.state["audio"]["input"]["turn_detection"] is not None  # put back

        r = await http.post(
            f"http://127.0.0.1:{port}/api/voice/turn",
            params={"conversation_id": body["conversation_id"]},  # in the URL, as the page does
            files=_clip(encode(tone(0.5, level=20) + silence(500), "ogg"), "q.ogg"),
        )
        _error(r, 422, "silent_audio")


@pytest.mark.e2e
async def test_a_turn_with_the_real_model_then_a_typed_one_in_the_same_conversation(
    server_url, speech
):
    base = server_url.replace("ws://", "http://")
    async with httpx.AsyncClient(timeout=120) as http:
        clip = encode(silence(200) + speech(QUESTION) + silence(200), "mp3")
        r = await http.post(f"{base}/api/voice/turn", files=_clip(clip, "q.mp3", "audio/mpeg"))
        assert r.status_code == 200, r.text
        body = r.json()
        assert "capital of france" in _words(body["transcript"])
        assert body["text"].strip() and len(_pcm(base64.b64decode(body["audio"]))) > SAMPLE_RATE
        r = await http.post(
            f"{base}/api/voice/chat",
            json={"text": "Thank you.", "conversation_id": body["conversation_id"]},
        )
        assert r.status_code == 200, r.text
        assert r.json()["conversation_id"] == body["conversation_id"] and r.json()["text"].strip()


@pytest.mark.e2e
@pytest.mark.parametrize("fmt", ["wav", "pcm"])
async def test_tts_streams_the_server_s_voice(models, steady_voice, fmt):
    text = "Good morning. Your train leaves at nine."
    app = create_app(_settings(agents="none"), models=dataclasses.replace(models, tts=steady_voice))
    async with (
        serve_app(app) as port,
        httpx.AsyncClient(timeout=60) as http,
        http.stream(
            "POST",
            f"http://127.0.0.1:{port}/api/voice/tts",
            json={"text": text, "format": fmt, "voice": "joe"},
        ) as r,
    ):
        assert r.status_code == 200
        assert "content-length" not in r.headers  # streamed as it is synthesized
        audio = b"".join([chunk async for chunk in r.aiter_bytes()])
    assert r.headers["content-type"].startswith("audio/wav" if fmt == "wav" else "audio/pcm")
    pcm = audio[44:] if fmt == "wav" else audio
    assert len(pcm) > SAMPLE_RATE * 2  # seconds of speech
    heard = _words(models.transcribe(resample(pcm, SAMPLE_RATE, 16000)))
    assert "good morning" in heard and "train" in heard


@pytest.mark.e2e
async def test_tts_on_engine_loopback_loads_a_voice():
    async with serve(loopback_settings()) as served, served.client() as http:
        r = await http.post("/api/voice/tts", json={"text": "Hello.", "format": "pcm"}, timeout=60)
    assert r.status_code == 200 and len(r.content) > SAMPLE_RATE // 4


@pytest.mark.e2e
async def test_a_turn_on_engine_openai_through_a_second_voxgate(agents_file, models, speech):
    from tests.engines.openai.test_engine import gateway_settings, upstream_app

    llm = RecordingModel([call("get_weather", city="Paris"), say("It is sunny in Paris.")])
    upstream = upstream_app(dataclasses.replace(models, llm=llm))
    async with serve_app(upstream) as up:
        settings = gateway_settings(up, agents=str(agents_file), sessions_per_minute=0)
        app = create_app(settings)
        async with serve_app(app) as port, httpx.AsyncClient(timeout=60) as http:
            clip = encode(silence(200) + speech(WEATHER) + silence(200), "ogg")
            r = await http.post(f"http://127.0.0.1:{port}/api/voice/turn", files=_clip(clip))
            assert r.status_code == 200, r.text
            body = r.json()
            assert "weather in paris" in _words(body["transcript"])
            assert body["text"] == "It is sunny in Paris."
            assert body["tool_calls"][0]["output"] == "Sunny and 21 degrees in Paris."
            assert len(_pcm(base64.b64decode(body["audio"]))) > SAMPLE_RATE // 2
            llm.script.append(say("Goodbye."))
            chat = {"text": "Bye.", "conversation_id": body["conversation_id"]}
            r = await http.post(f"http://127.0.0.1:{port}/api/voice/chat", json=chat)
            assert r.status_code == 200, r.text
            assert r.json()["text"] == "Goodbye."
