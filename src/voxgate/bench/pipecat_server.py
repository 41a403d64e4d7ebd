"""A Pipecat server for ``voxgate bench relay --compare pipecat``; voxgate never imports it.

The bench's own venv (``bench/compare.py``) runs it as ``python -I pipecat_server.py --port P
--upstream ws://127.0.0.1:U/v1/realtime``. Each WebSocket on ``/ws/{id}`` gets one Pipecat
pipeline: FastAPI WebSocket transport input → ``OpenAIRealtimeLLMService`` (at the simulator,
server VAD) → transport output. The wire is that of voxgate's ``/ws`` for audio: a binary
message is raw PCM16 24 kHz mono, both ways; the one text message, ``{"type":
"session.updated"}``, says the upstream session is ready. Pipecat's defaults otherwise, but
RTVI is off (there is no RTVI client), so is the idle timeout, and its log says warnings only.
``GET /healthz`` answers once it listens.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import uvicorn
from fastapi import FastAPI, WebSocket
from loguru import logger
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.serializers.base_serializer import FrameSerializer
from pipecat.services.openai.realtime import events
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)
from pipecat.workers.runner import WorkerRunner

RATE = 24_000


class RawPCMSerializer(FrameSerializer):
    """Binary messages are PCM16 24 kHz mono audio; transport messages go out as JSON text."""

    async def serialize(self, frame: Frame) -> str | bytes | None:
        """Output audio as its bytes, a transport message as JSON, nothing else."""
        if isinstance(frame, OutputAudioRawFrame):
            return frame.audio
        if isinstance(frame, OutputTransportMessageFrame | OutputTransportMessageUrgentFrame):
            return json.dumps(frame.message)
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        """A binary message is input audio; text is ignored."""
        if isinstance(data, bytes) and data:
            return InputAudioRawFrame(audio=data, sample_rate=RATE, num_channels=1)
        return None


class Realtime(OpenAIRealtimeLLMService):
    """Tells the caller once the upstream session is configured (``session.updated``)."""

    async def _handle_evt_session_updated(self, evt: Any) -> None:
        first = not self._api_session_ready
        await super()._handle_evt_session_updated(evt)
        if first:
            await self.push_frame(
                OutputTransportMessageUrgentFrame(message={"type": "session.updated"})
            )


def app(upstream: str) -> FastAPI:
    """One pipeline per WebSocket, its LLM service at ``upstream``."""
    api = FastAPI()

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.websocket("/ws/{session_id}")
    async def session(websocket: WebSocket, session_id: str) -> None:
        await websocket.accept()
        transport = FastAPIWebsocketTransport(
            websocket,
            FastAPIWebsocketParams(
                audio_in_enabled=True,
                audio_in_sample_rate=RATE,
                audio_out_enabled=True,
                audio_out_sample_rate=RATE,
                serializer=RawPCMSerializer(),
                allowed_origins=[],
            ),
        )
        pcm = events.PCMAudioFormat()
        llm = Realtime(
            api_key="sk-bench",
            base_url=upstream,
            settings=Realtime.Settings(
                model="sim",
                session_properties=events.SessionProperties(
                    output_modalities=["audio"],
                    audio=events.AudioConfiguration(
                        input=events.AudioInput(
                            format=pcm, turn_detection=events.TurnDetection(type="server_vad")
                        ),
                        output=events.AudioOutput(format=pcm, voice="alloy"),
                    ),
                ),
            ),
        )
        worker = PipelineWorker(
            Pipeline([transport.input(), llm, transport.output()]),
            params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE),
            enable_rtvi=False,
            idle_timeout_secs=None,
        )

        @transport.event_handler("on_client_disconnected")
        async def on_client_disconnected(transport: Any, websocket: Any) -> None:
            await worker.cancel()

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await runner.run()

    return api


def main() -> None:
    """``python -I pipecat_server.py --port P --upstream URL``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="ws://host:port/v1/realtime")
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    uvicorn.run(
        app(args.upstream),
        host="127.0.0.1",
        port=args.port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
