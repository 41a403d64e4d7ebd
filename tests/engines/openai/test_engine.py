"""The full loop: a gateway on engine ``openai`` driving a second voxgate's ``/v1/realtime``."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from openai import AsyncOpenAI

from tests.conftest import assert_valid_ga, free_port, serve_app, silence
from tests.transports.test_realtime import WEATHER_TOOL, Conversation, audioop, from_g711, to_g711
from voxgate.client import VoiceClient
from voxgate.engines.openai import OpenAIEngine
from voxgate.protocol import to_wire, validate_server_event
from voxgate.server.app import create_app
from voxgate.settings import Settings

pytestmark = pytest.mark.e2e

UPSTREAM_KEY = "sk-upstream-test"


def upstream_app(models):
    settings = Settings(_env_file=None, api_keys=[UPSTREAM_KEY])  # type: ignore[call-arg]
    return create_app(settings, models=models)


def gateway_settings(port: int, **extra) -> Settings:
    """A gateway on engine openai; no server agent unless asked (its tools make replies vary)."""
    return Settings(  # type: ignore[call-arg]
        **{
            "_env_file": None,
            "engine": "openai",
            "openai_api_key": UPSTREAM_KEY,
            "openai_base_url": f"http://127.0.0.1:{port}/v1",
            "openai_model": "gpt-realtime",
            "agents": "none",
            "session_grace_seconds": 0,  # the tests see the upstream closed as the client leaves
            **extra,
        }
    )


@contextlib.asynccontextmanager
async def gateway(upstream_port: int, **extra) -> AsyncIterator[str]:
    """The ``/ws`` address of a new session on a gateway in front of ``upstream_port``."""
    async with serve_app(create_app(gateway_settings(upstream_port, **extra))) as port:
        yield f"ws://127.0.0.1:{port}/ws/{uuid.uuid4().hex}"


async def upstream_sessions(port: int) -> int:
    """How many sessions the upstream voxgate on ``port`` holds."""
    async with httpx.AsyncClient() as http:
        return int((await http.get(f"http://127.0.0.1:{port}/healthz")).json()["sessions"])


async def until_no_upstream_sessions(port: int, *, timeout: float) -> None:
    """Wait until the upstream on ``port`` holds no session (its clients left)."""
    async with asyncio.timeout(timeout):
        while await upstream_sessions(port):
            await asyncio.sleep(0.1)


async def test_speech_through_a_second_voxgate(models, speech):
    async with serve_app(upstream_app(models)) as up:
        async with gateway(up) as url, VoiceClient(url) as client:
            await client.stream(
                silence(300) + speech("What is the capital of France?") + silence(1000)
            )
            _, heard = await client.wait_for(
                "conversation.item.input_audio_transcription.completed"
            )
            assert "france" in heard["transcript"].lower()
            _, done = await client.wait_for("response.done")
            assert done["response"]["status"] == "completed"
            assert sum(n for _, n in client.received.audio) > 24000
            _, metrics = await client.wait_for("voxgate.metrics")
            assert metrics["response_id"] == done["response"]["id"]
            assert metrics["model"] == "gpt-realtime"
            assert metrics["tokens"]["output_text"] > 0  # a voxgate upstream gives no breakdown
            assert metrics["cost_usd"] > 0
            figures = metrics["metrics"]
            assert 0 < figures["llm_first_token_ms"] <= figures["first_audio_ms"]
            assert figures["first_audio_ms"] <= figures["response_ms"]
            # the upstream's silence window, and the audio sent while it was found
            assert figures["vad_delay_ms"] >= 0
            assert figures["voice_to_voice_ms"] > figures["vad_delay_ms"]
            assert metrics["item_id"] == heard["item_id"]
            assert client.received.types().count("session.created") == 1
            assert_valid_ga(client.received.events)
            assert await upstream_sessions(up) == 1
        # the client left: the gateway's session closed its upstream connection
        await until_no_upstream_sessions(up, timeout=10)


async def test_upstream_killed_mid_response_reconnects_with_history(models):
    port = free_port()
    upstream = serve_app(upstream_app(models), port=port)
    await upstream.__aenter__()
    try:
        async with gateway(port) as url, VoiceClient(url) as client:
            await client.send_json({"type": "text", "text": "Tell me a long story about a dragon."})
            _, user_item = await client.wait_for(
                lambda ev: ev["type"] == "conversation.item.added" and ev["item"]["role"] == "user"
            )
            index, created = await client.wait_for("response.created")
            while not client.received.audio:
                await asyncio.sleep(0.02)
            await upstream.__aexit__(None, None, None)  # the upstream goes away mid-reply
            index, failed = await client.wait_for("response.done", after=index)
            assert failed["response"]["id"] == created["response"]["id"]
            assert failed["response"]["status"] == "failed"
            assert failed["response"]["status_details"]["error"]["code"] == "upstream_disconnected"
            dropped_at = time.monotonic()
            await asyncio.sleep(0.5)
            upstream = serve_app(upstream_app(models), port=port)  # and comes back
            await upstream.__aenter__()
            again_index, again = await client.wait_for("response.created", after=index)
            again_at = client.received.events[again_index][0]
            assert again["response"]["id"] != created["response"]["id"]
            audio_before = len(client.received.audio)
            index, done = await client.wait_for("response.done", after=index + 1)
            assert done["response"]["status"] == "completed"
            resumed_audio = client.received.audio[audio_before:]
            assert resumed_audio
            print(
                f"\nreconnect: upstream down 0.5 s; reply restarted {again_at - dropped_at:.2f} s "
                f"and its audio {resumed_audio[0][0] - dropped_at:.2f} s after the drop"
            )
            # the new upstream session holds the replayed history, under the same ids
            await client.send_json(
                {"type": "conversation.item.retrieve", "item_id": user_item["item"]["id"]}
            )
            _, retrieved = await client.wait_for("conversation.item.retrieved", after=index)
            assert retrieved["item"]["content"][0]["text"] == "Tell me a long story about a dragon."
            assert "session.created" not in client.received.types()[1:]
            assert_valid_ga(client.received.events)
    finally:
        await upstream.__aexit__(None, None, None)


async def test_azure_settings_use_the_api_key_header_and_deployment():
    seen: list[tuple[str, str | None]] = []

    async def handler(ws) -> None:
        seen.append((ws.request.path, ws.request.headers.get("api-key")))
        await ws.close()

    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            engine="openai",
            azure_openai_endpoint=f"http://127.0.0.1:{port}",
            openai_websocket_base_url=f"ws://127.0.0.1:{port}/openai",  # Azure forces wss
            azure_openai_api_key="azure-key",
            azure_openai_deployment="my-realtime",
            azure_openai_api_version="2025-08-28",
            openai_reconnect_attempts=0,
        )
        engine = OpenAIEngine(settings)
        try:
            async with asyncio.timeout(10):
                while not seen:
                    await asyncio.sleep(0.05)
        finally:
            await engine.close()
    path, key = seen[0]
    assert path.startswith("/openai/realtime?")
    assert "api-version=2025-08-28" in path and "deployment=my-realtime" in path
    assert key == "azure-key"


async def test_openai_sdk_through_the_gateway_to_a_second_voxgate(models, speech):
    """SDK → gateway /v1/realtime (μ-law edge) → engine openai → upstream /v1/realtime (local)."""
    async with serve_app(upstream_app(models)) as up:
        gateway_app = create_app(gateway_settings(up, api_keys=["sk-gateway"]))
        async with serve_app(gateway_app) as port:
            client = AsyncOpenAI(
                api_key="sk-gateway",
                base_url=f"http://127.0.0.1:{port}/v1",
                websocket_base_url=f"ws://127.0.0.1:{port}/v1",
            )
            async with client.realtime.connect(model="gpt-realtime") as connection:
                talk = Conversation(connection)
                try:
                    pcmu = {"type": "audio/pcmu"}
                    await connection.session.update(
                        session={
                            "type": "realtime",
                            "audio": {"input": {"format": pcmu}, "output": {"format": pcmu}},
                        }
                    )
                    _, updated = await talk.wait_for("session.updated")
                    assert updated["session"]["audio"]["output"]["format"] == pcmu
                    spoken = silence(300) + speech("What is the capital of France?") + silence(1000)
                    await talk.append(to_g711(spoken, "pcmu"), chunk=1600)
                    _, heard = await talk.wait_for(
                        "conversation.item.input_audio_transcription.completed"
                    )
                    assert "france" in heard["transcript"].lower()
                    _, done = await talk.wait_for("response.done")
                    assert done["response"]["status"] == "completed"
                    assert len(talk.audio()) > 4000
                    assert audioop.rms(from_g711(talk.audio(), "pcmu"), 2) > 300
                finally:
                    await talk.close()


async def test_a_session_config_the_upstream_refuses_is_reported(models):
    async with serve_app(upstream_app(models)) as up:
        engine = OpenAIEngine(
            gateway_settings(up),
            {"output_modalities": ["audio", "text"]},  # valid GA the offline engine refuses
        )
        try:
            events = engine.events()
            first = await asyncio.wait_for(anext(events), 30)
            second = await asyncio.wait_for(anext(events), 30)
        finally:
            await engine.close()
    assert first["type"] == "error"
    assert first["error"]["param"] == "session.output_modalities"
    assert second["type"] == "session.created"  # the session goes on, as the upstream has it
    validate_server_event(to_wire(first))
    validate_server_event(to_wire(second))


async def test_client_tools_through_the_gateway(models):
    """A function the client declares is called and answered across both hops."""
    async with (
        serve_app(upstream_app(models)) as up,
        serve_app(create_app(gateway_settings(up))) as port,
    ):
        client = AsyncOpenAI(
            api_key="any",
            base_url=f"http://127.0.0.1:{port}/v1",
            websocket_base_url=f"ws://127.0.0.1:{port}/v1",
        )
        async with client.realtime.connect(model="gpt-realtime") as connection:
            talk = Conversation(connection)
            try:
                await connection.session.update(
                    session={
                        "type": "realtime",
                        "output_modalities": ["text"],
                        "tools": [WEATHER_TOOL],
                        "tool_choice": "required",
                    }
                )
                await talk.wait_for("session.updated")
                await connection.conversation.item.create(
                    item={
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "Weather in Rome?"}],
                    }
                )
                await connection.response.create()
                _, args = await talk.wait_for("response.function_call_arguments.done")
                index, _ = await talk.wait_for("response.done")
                await connection.conversation.item.create(
                    item={
                        "type": "function_call_output",
                        "call_id": args["call_id"],
                        "output": '{"forecast": "rain"}',
                    }
                )
                await connection.response.create(response={"tool_choice": "none"})
                _, done = await talk.wait_for("response.done", after=index + 1)
                assert done["response"]["status"] == "completed"
                assert done["response"]["output"][0]["content"][0]["text"].strip()
            finally:
                await talk.close()
