"""Shared fixtures: the real models (loaded once), speech made with Piper, a live server."""

from __future__ import annotations

import asyncio
import functools
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI

from voxgate.audio import SAMPLE_RATE, resample
from voxgate.client import VoiceClient
from voxgate.components.tts.piper import PiperTTS
from voxgate.engines.local import LocalModels, load_models
from voxgate.protocol import Event, to_wire, validate_server_event
from voxgate.server.app import create_app
from voxgate.settings import Settings


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every server a test makes keeps its store in a temporary directory, never the
    checkout's ``data/`` (where users made by ``voxgate users add`` would close them).

    Sessions are not summarized (each summary is a model reply the next test would wait
    behind) but where a test turns it on.
    """
    path = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VOXGATE_DATA_DIR", str(path))
        patch.setenv("VOXGATE_SUMMARIES", "false")
        patch.delenv("VOXGATE_DATABASE_URL", raising=False)
        yield path


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    return Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def models(settings: Settings) -> LocalModels:
    return load_models(settings)


@pytest.fixture(scope="session")
def speech() -> Callable[[str], bytes]:
    """Text → PCM16 24 kHz spoken by Piper without its random noise: the same every run."""
    voice = PiperTTS(noise_scale=0.0, noise_w_scale=0.0)

    @functools.cache
    def say(text: str) -> bytes:
        pcm = b"".join(voice.synthesize(text))
        return resample(pcm, voice.sample_rate, SAMPLE_RATE)

    return say


def assert_valid_ga(events: Iterable[tuple[float, Event]]) -> None:
    """Every server event but voxgate's own matches the ``openai`` SDK's GA model for its type."""
    for _, ev in events:
        if not ev["type"].startswith("voxgate."):
            validate_server_event(to_wire(ev))


def session_url(server_url: str) -> str:
    """The ``/ws`` address of a new session on ``server_url``."""
    return f"{server_url}/ws/{uuid.uuid4().hex}"


async def speak_over_the_reply(client: VoiceClient, speech: Callable[[str], bytes]) -> int:
    """Once the reply's audio flows, say "stop": the reply ends ``cancelled`` by the turn.

    Returns the index of its ``response.done`` in ``client.received.events``.
    """
    while not client.received.audio:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)  # a long reply has many phrases to go
    await client.stream(speech("Stop, please wait a moment.") + silence(200))
    await client.wait_for("input_audio_buffer.speech_started")
    index, done = await client.wait_for("response.done")
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "turn_detected"
    return index


def silence(ms: int) -> bytes:
    return b"\0\0" * (SAMPLE_RATE * ms // 1000)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serve_app(app: FastAPI, port: int | None = None) -> AsyncIterator[int]:
    """Serve ``app`` on 127.0.0.1 (a free port unless given) while the block runs."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            raise RuntimeError("the server did not start")
        await asyncio.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


@pytest_asyncio.fixture(scope="session")
async def server_url(settings: Settings, models: LocalModels) -> AsyncIterator[str]:
    """A voxgate server on a real 127.0.0.1 socket, sharing the test session's models."""
    async with serve_app(create_app(settings, models=models)) as port:
        yield f"ws://127.0.0.1:{port}"
