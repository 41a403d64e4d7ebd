"""The official ``openai`` SDK against voxgate's ``/v1/realtime`` on the offline engine."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
import warnings
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
import websockets
from openai import AsyncOpenAI, AuthenticationError, BadRequestError, PermissionDeniedError
from openai.types.realtime import ClientSecretCreateResponse

from tests.conftest import serve_app, silence

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the reference G.711 codec (deprecated, still in CPython 3.11/3.12)
from voxgate.audio import resample
from voxgate.client import VoiceClient
from voxgate.protocol import SERVER_EVENT_MODELS
from voxgate.server.app import create_app
from voxgate.settings import Settings

pytestmark = pytest.mark.e2e

API_KEY = "sk-voxgate-test"
MODEL = "gpt-realtime"


class Clock:
    """A settable wall clock for the client-secret store."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest_asyncio.fixture(scope="module")
async def port(models, clock) -> AsyncIterator[int]:
    """voxgate with an API key configured (so keys are checked), sharing the test models."""
    settings = Settings(_env_file=None, api_keys=[API_KEY])  # type: ignore[call-arg]
    app = create_app(settings, models=models)
    app.state.gateway.client_secrets.clock = clock
    async with serve_app(app) as port:
        yield port


def sdk(port: int, api_key: str = API_KEY) -> AsyncOpenAI:
    return AsyncOpenAI(
        api_key=api_key,
        base_url=f"http://127.0.0.1:{port}/v1",
        websocket_base_url=f"ws://127.0.0.1:{port}/v1",
        max_retries=0,
    )


def strictly_valid(ev: dict[str, Any]) -> None:
    """Every server event must be a GA event, valid for its type's SDK model."""
    model = SERVER_EVENT_MODELS.get(ev["type"])
    assert model is not None, f"not a GA server event: {ev['type']}"
    model.model_validate(ev, strict=True)


class Conversation:
    """An SDK connection whose every event is recorded (raw) and validated."""

    def __init__(self, connection: Any) -> None:
        self.conn = connection
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            raw = await self.conn.recv_bytes()
            ev = json.loads(raw)
            strictly_valid(ev)
            async with self._changed:
                self.events.append(ev)
                self._changed.notify_all()

    def types(self) -> list[str]:
        return [ev["type"] for ev in self.events]

    async def wait_for(
        self, match: str | Callable[[dict[str, Any]], bool], *, after: int = 0, timeout: float = 60
    ) -> tuple[int, dict[str, Any]]:
        test = (lambda ev: ev["type"] == match) if isinstance(match, str) else match
        async with asyncio.timeout(timeout), self._changed:
            while True:
                for index in range(after, len(self.events)):
                    if test(self.events[index]):
                        return index, self.events[index]
                after = len(self.events)
                if self._reader.done():
                    self._reader.result()  # an invalid event fails the test here
                    raise AssertionError("the connection closed")
                await self._changed.wait()

    async def append(self, audio: bytes, *, chunk: int = 4800) -> None:
        for offset in range(0, len(audio), chunk):
            await self.conn.input_audio_buffer.append(
                audio=base64.b64encode(audio[offset : offset + chunk]).decode()
            )

    def audio(self, after: int = 0) -> bytes:
        return b"".join(
            base64.b64decode(ev["delta"])
            for ev in self.events[after:]
            if ev["type"] == "response.output_audio.delta"
        )

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
        if self._reader.done() and not self._reader.cancelled() and self._reader.exception():
            raise self._reader.exception()  # type: ignore[misc]


@contextlib.asynccontextmanager
async def conversation(port: int, api_key: str = API_KEY) -> AsyncIterator[Conversation]:
    async with sdk(port, api_key).realtime.connect(model=MODEL) as connection:
        talk = Conversation(connection)
        try:
            yield talk
        finally:
            await talk.close()


async def test_spoken_question_gets_transcript_and_spoken_answer(port, speech):
    async with conversation(port) as talk:
        _, created = await talk.wait_for("session.created")
        assert created["session"]["audio"]["input"]["format"] == {
            "type": "audio/pcm",
            "rate": 24000,
        }
        await talk.append(silence(300) + speech("What is the capital of France?") + silence(1000))
        _, heard = await talk.wait_for("conversation.item.input_audio_transcription.completed")
        assert "france" in heard["transcript"].lower()
        _, done = await talk.wait_for("response.done")
        assert done["response"]["status"] == "completed"
        assert len(talk.audio()) > 24000  # over half a second of speech, base64 PCM16 24 kHz
        assert "voxgate.metrics" not in talk.types()
        types = talk.types()
        order = [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "response.created",
            "response.output_audio.delta",
            "response.done",
        ]
        assert [types.index(t) for t in order] == sorted(types.index(t) for t in order)


async def test_cancel_and_truncate(port):
    async with conversation(port) as talk:
        await talk.wait_for("session.created")
        await talk.conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Tell me a long story about a dragon."}],
            }
        )
        await talk.conn.response.create()
        _, first = await talk.wait_for("response.output_audio.delta")
        await talk.conn.response.cancel()
        _, done = await talk.wait_for("response.done")
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"]["reason"] == "client_cancelled"
        await talk.conn.conversation.item.truncate(
            item_id=first["item_id"], content_index=0, audio_end_ms=200
        )
        _, truncated = await talk.wait_for(
            lambda ev: ev["type"] == "conversation.item.truncated" and ev["audio_end_ms"] == 200
        )
        assert truncated["item_id"] == first["item_id"]
        await talk.conn.response.cancel()  # nothing left to cancel: an error, the session lives
        _, error = await talk.wait_for("error")
        assert error["error"]["code"] == "response_cancel_not_active"


def to_g711(pcm24k: bytes, law: str) -> bytes:
    """Reference G.711 (CPython's audioop), independent of voxgate's PyAV codecs."""
    pcm8k = resample(pcm24k, 24000, 8000)
    return audioop.lin2ulaw(pcm8k, 2) if law == "pcmu" else audioop.lin2alaw(pcm8k, 2)


def from_g711(data: bytes, law: str) -> bytes:
    return audioop.ulaw2lin(data, 2) if law == "pcmu" else audioop.alaw2lin(data, 2)


async def test_g711_mu_law_both_ways(port, speech):
    async with conversation(port) as talk:
        await talk.conn.session.update(
            session={
                "type": "realtime",
                "audio": {
                    "input": {"format": {"type": "audio/pcmu"}},
                    "output": {"format": {"type": "audio/pcmu"}},
                },
            }
        )
        _, updated = await talk.wait_for("session.updated")
        assert updated["session"]["audio"]["input"]["format"] == {"type": "audio/pcmu"}
        assert updated["session"]["audio"]["output"]["format"] == {"type": "audio/pcmu"}
        spoken = to_g711(
            silence(300) + speech("What is the capital of France?") + silence(1000), "pcmu"
        )
        await talk.append(spoken, chunk=1600)
        _, heard = await talk.wait_for("conversation.item.input_audio_transcription.completed")
        assert "france" in heard["transcript"].lower()
        _, done = await talk.wait_for("response.done")
        assert done["response"]["status"] == "completed"
        reply = from_g711(talk.audio(), "pcmu")
        assert len(talk.audio()) > 4000  # over half a second at 8000 bytes/s
        assert audioop.rms(reply, 2) > 300  # speech, not silence or noise from a wrong codec


async def test_client_secret_scopes_the_session_and_g711_a_law(port, speech):
    client = sdk(port)
    secret = await client.realtime.client_secrets.create(
        expires_after={"anchor": "created_at", "seconds": 60},
        session={
            "type": "realtime",
            "model": MODEL,
            "instructions": "You are a pirate. Answer briefly.",
            "audio": {
                "input": {"format": {"type": "audio/pcma"}, "turn_detection": None},
                "output": {"format": {"type": "audio/pcma"}},
            },
        },
    )
    assert isinstance(secret, ClientSecretCreateResponse)
    assert secret.value.startswith("ek_")
    raw = await client.realtime.client_secrets.with_raw_response.create(
        session={"type": "realtime"}
    )
    ClientSecretCreateResponse.model_validate(json.loads(raw.content))
    async with conversation(port, api_key=secret.value) as talk:
        _, created = await talk.wait_for("session.created")
        session = created["session"]
        assert session["instructions"] == "You are a pirate. Answer briefly."
        assert session["audio"]["input"]["format"] == {"type": "audio/pcma"}
        assert session["audio"]["output"]["format"] == {"type": "audio/pcma"}
        assert session["audio"]["input"]["turn_detection"] is None
        await talk.append(to_g711(speech("What is the capital of Germany?") + silence(300), "pcma"))
        await talk.conn.input_audio_buffer.commit()
        await talk.conn.response.create()
        _, heard = await talk.wait_for("conversation.item.input_audio_transcription.completed")
        assert "germany" in heard["transcript"].lower()
        _, done = await talk.wait_for("response.done")
        assert done["response"]["status"] == "completed"
        assert audioop.rms(from_g711(talk.audio(), "pcma"), 2) > 300


async def test_keys_are_checked(port, clock):
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with sdk(port, "sk-wrong").realtime.connect(model=MODEL):
            pass
    assert refused.value.response.status_code == 401
    assert b"incorrect API key" in refused.value.response.body
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with sdk(port, "ek_made_up").realtime.connect(model=MODEL):
            pass
    assert refused.value.response.status_code == 401
    with pytest.raises(AuthenticationError):
        await sdk(port, "sk-wrong").realtime.client_secrets.create(session={"type": "realtime"})

    secret = await sdk(port).realtime.client_secrets.create(
        expires_after={"anchor": "created_at", "seconds": 10}, session={"type": "realtime"}
    )
    with pytest.raises(PermissionDeniedError):  # an ephemeral key mints nothing
        await sdk(port, secret.value).realtime.client_secrets.create(session={"type": "realtime"})
    async with conversation(port, api_key=secret.value) as talk:
        await talk.wait_for("session.created")
    clock.now += 11
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with sdk(port, secret.value).realtime.connect(model=MODEL):
            pass
    assert refused.value.response.status_code == 401
    assert b"expired" in refused.value.response.body


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"session": {"type": "realtime", "instructions": 5}}, "session.instructions"),
        ({"expires_after": {"seconds": 5}}, "expires_after.seconds"),
        (
            {"session": {"type": "realtime", "audio": {"input": {"format": {"type": "audio/x"}}}}},
            "session.audio.input.format",
        ),
        ({"session": {"type": "transcription"}}, "session.type"),
        (  # valid GA, but not something the offline engine does
            {"session": {"type": "realtime", "output_modalities": ["audio", "text"]}},
            "session.output_modalities",
        ),
    ],
)
async def test_bad_client_secret_requests_get_400(port, body, param):
    with pytest.raises(BadRequestError) as bad:
        await sdk(port).post("/realtime/client_secrets", body=body, cast_to=object)
    assert bad.value.body["param"].startswith(param)  # type: ignore[index]


async def test_browser_subprotocol_key_and_bad_frames(port):
    url = f"ws://127.0.0.1:{port}/v1/realtime?model={MODEL}"
    protocols = ["realtime", f"openai-insecure-api-key.{API_KEY}"]
    async with websockets.connect(url, subprotocols=protocols) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == "realtime"
        assert json.loads(await ws.recv())["type"] == "session.created"
        for frame, code in [
            (b"\x00\x01", "invalid_event"),
            ("{nope", "invalid_json"),
            ('{"type": "text", "text": "hi"}', "unknown_event_type"),
            ('{"type": "input_audio_buffer.append", "audio": "AAA"}', "invalid_value"),
            (
                '{"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcm", "rate": 16000}}}}}',
                "invalid_value",
            ),
        ]:
            await ws.send(frame)
            error = json.loads(await ws.recv())
            strictly_valid(error)
            assert (error["type"], error["error"]["code"]) == ("error", code), frame
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(
            url.split("?")[0], additional_headers={"Authorization": f"Bearer {API_KEY}"}
        ):
            pass
    assert refused.value.response.status_code == 400


async def test_call_id_joins_a_live_session_as_a_sideband(port):
    session_id = "rtc_" + uuid.uuid4().hex
    async with VoiceClient(f"ws://127.0.0.1:{port}/ws/{session_id}", api_key=API_KEY) as user:
        connect = sdk(port).realtime.connect(call_id=session_id)
        async with connect as connection:
            sideband = Conversation(connection)
            try:
                await sideband.wait_for("session.created")
                await user.send_json({"type": "text", "text": "Say hello."})
                _, done = await sideband.wait_for("response.done")
                _, heard = await user.wait_for("response.done")
                assert done["response"]["id"] == heard["response"]["id"]
                assert "voxgate.metrics" in user.received.types()
                assert "voxgate.metrics" not in sideband.types()
            finally:
                await sideband.close()
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with sdk(port).realtime.connect(call_id="rtc_nobody"):
            pass
    assert refused.value.response.status_code == 404


WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city."}},
        "required": ["city"],
    },
}


async def test_client_side_function_call_round_trip(port, speech):
    async with conversation(port) as talk:
        await talk.conn.session.update(
            session={"type": "realtime", "tools": [WEATHER_TOOL], "tool_choice": "auto"}
        )
        _, updated = await talk.wait_for("session.updated")
        assert [tool["name"] for tool in updated["session"]["tools"]] == ["get_weather"]
        await talk.append(
            silence(300) + speech("What is the weather like in London today?") + silence(1000)
        )
        _, args = await talk.wait_for("response.function_call_arguments.done")
        assert args["name"] == "get_weather"
        assert "london" in json.loads(args["arguments"])["city"].lower()
        index, first = await talk.wait_for("response.done")
        call = first["response"]["output"][0]
        assert (call["type"], call["call_id"]) == ("function_call", args["call_id"])
        # the client runs its function and answers; the model speaks the result
        await talk.conn.conversation.item.create(
            item={
                "type": "function_call_output",
                "call_id": args["call_id"],
                "output": json.dumps({"forecast": "sunny", "temperature_c": 24}),
            }
        )
        await talk.conn.response.create()
        _, done = await talk.wait_for("response.done", after=index + 1)
        assert done["response"]["status"] == "completed"
        reply = done["response"]["output"][0]
        assert reply["type"] == "message"
        assert reply["content"][0]["transcript"].strip()
        assert talk.audio(index + 1)
