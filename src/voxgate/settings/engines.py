"""The engines: the offline models, the hosted Realtime upstream (OpenAI, Azure), agents."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings


class EngineSettings(BaseSettings):
    """What answers: the engine, its models or upstream, and the agents that run on it."""

    engine: Literal["local", "openai", "loopback"] = Field(
        "local",
        description="Speech engine behind sessions: `local` runs fully offline; `openai` drives "
        "OpenAI Realtime (or Azure OpenAI, or any server of the protocol, voxgate included); "
        "`loopback` echoes input audio (transport benchmarks, no models loaded).",
    )
    instructions: str = Field(
        "You are a helpful voice assistant. Answer in one or two short sentences.",
        description="Default system instructions for new sessions.",
    )
    voice: str = Field(
        "joe", description="Voice of the local engine (the Piper voice the install ships)."
    )

    turn_detection: Literal["server_vad", "semantic_vad"] = Field(
        "semantic_vad",
        description="How a session's user turns end: `server_vad` after a fixed silence, "
        "`semantic_vad` when an end-of-turn model hears a finished thought (sooner), or after "
        "a longer silence for an unfinished one (Smart Turn; without its model, server VAD).",
    )
    vad_eagerness: Literal["low", "medium", "high", "auto"] = Field(
        "auto", description="`semantic_vad`: how soon a pause ends the turn (`auto` = medium)."
    )
    vad_threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="Speech probability above which a frame is speech."
    )
    vad_silence_duration_ms: int = Field(
        300, ge=0, le=5000, description="Silence that ends a user turn (server VAD)."
    )
    vad_prefix_padding_ms: int = Field(
        300, ge=0, le=5000, description="Audio kept before detected speech start."
    )

    llm: Literal["llama", "openai"] = Field(
        "llama",
        description="`llama`: SmolLM2 in-process via llama.cpp; `openai`: any OpenAI-compatible "
        "chat endpoint (set llm_base_url, llm_api_key, llm_model).",
    )
    llm_model_path: Path | None = Field(
        None, description="GGUF file for `llama`; default: the bundled SmolLM2-135M-Instruct."
    )
    llm_base_url: str | None = Field(None, description="Base URL of the chat endpoint (`openai`).")
    llm_api_key: str = Field("none", description="API key for the chat endpoint (`openai`).")
    llm_model: str = Field("gpt-4o-mini", description="Model name at the chat endpoint (`openai`).")
    llm_max_tokens: int = Field(96, ge=1, le=4096, description="Longest reply, in tokens.")
    llm_temperature: float = Field(0.2, ge=0.0, le=2.0, description="Sampling temperature.")
    llm_threads: int | None = Field(None, description="CPU threads for llama.cpp (default: all).")
    llm_history_tokens: int | None = Field(
        None,
        ge=16,
        description="Conversation the model sees under truncation 'auto', in tokens after the "
        "instructions (default: 512 for `llama`, whose prompt evaluation is slow on a CPU; "
        "8000 for `openai`).",
    )
    llm_prompt_cache_mb: int = Field(
        256,
        ge=0,
        description="RAM for llama.cpp states kept between replies, so a conversation's next "
        "turn need not evaluate its history again (0: keep none).",
    )

    stt_threads: int = Field(
        1,
        ge=0,
        description="CPU threads for Whisper (0: CTranslate2's own). One is fastest for tiny.en "
        "on a short utterance (72 vs 92 ms here) and leaves the other cores to the LLM and TTS.",
    )

    agents: str = Field(
        "demo",
        description="Python file whose `agent` or `starting_agent` takes each session "
        "(docs/agents.md; `FILE:name` picks another); `demo`: the bundled airline agents; "
        "`none`: no agents.",
    )
    tool_timeout_s: float = Field(
        30.0, gt=0, description="Seconds a tool may run before the model gets a timeout error."
    )
    run_narration: Literal["every", "final", "summary"] = Field(
        "final",
        description="What of a background run the voice agent tells the user: `every` "
        "message, the `final` one, or a `summary` at the end.",
    )

    openai_api_key: str | None = Field(None, description="API key for engine `openai`.")
    openai_base_url: str = Field(
        "https://api.openai.com/v1", description="HTTP base URL of the Realtime API (`openai`)."
    )
    openai_websocket_base_url: str | None = Field(
        None, description="WebSocket base URL (default: openai_base_url with ws/wss)."
    )
    openai_transport: Literal["websocket", "webrtc"] = Field(
        "websocket",
        description="How engine `openai` reaches the upstream: `websocket` (the SDK's realtime "
        "connection) or `webrtc` (aiortc, `POST {openai_base_url}/realtime/calls`, Opus audio).",
    )
    openai_model: str = Field(
        "gpt-realtime", description="Realtime model (`openai`); also keys the price table."
    )
    openai_voice: str | None = Field(
        None, description="Voice for engine `openai` (e.g. `marin`); default: the model's own."
    )
    openai_voice_provider: Literal["model", "piper", "cartesia"] = Field(
        "model",
        description="Who speaks for engine `openai`: `model` (the realtime model's own voice), "
        "`piper` (the model answers in text; Piper voices it offline with `voice`) or "
        "`cartesia` (the model answers in text; Cartesia's streaming WebSocket TTS voices it "
        "with `cartesia_voice_id`, one connection per session).",
    )
    cartesia_api_key: str | None = Field(
        None, description="Cartesia API key (`openai_voice_provider=cartesia`)."
    )
    cartesia_voice_id: str | None = Field(
        None, description="Cartesia voice id (sent as `voice: {mode: id, id}`)."
    )
    cartesia_model_id: str = Field("sonic-3.5", description="Cartesia TTS model (`model_id`).")
    cartesia_base_url: str = Field(
        "wss://api.cartesia.ai",
        description="Cartesia WebSocket base URL; voxgate connects to `{base}/tts/websocket`.",
    )
    cartesia_version: str = Field(
        "2026-03-01", description="Cartesia API version (the `cartesia_version` query parameter)."
    )
    cartesia_language: str | None = Field(
        None,
        description="Language of the Cartesia voice (`language`, e.g. `en`); default: the model's.",
    )
    openai_reconnect_attempts: int = Field(
        6, ge=0, description="Reconnects to try (with backoff) when the upstream connection drops."
    )
    azure_openai_endpoint: str | None = Field(
        None,
        description="Azure OpenAI resource URL (`https://<name>.openai.azure.com`); when set, "
        "engine `openai` talks to Azure with the `api-key` header.",
    )
    azure_openai_api_key: str | None = Field(None, description="Azure OpenAI `api-key`.")
    azure_openai_deployment: str | None = Field(
        None, description="Azure deployment of the realtime model (default: openai_model)."
    )
    azure_openai_api_version: str = Field(
        "2025-08-28", description="Azure OpenAI `api-version` of the Realtime API."
    )

    direct_mode_enabled: bool = Field(
        False,
        description="Browser-direct mode: `POST /api/realtime/client-secret` mints an upstream "
        "ephemeral key (with the openai_* / azure_* credentials) so a browser talks to the "
        "Realtime service itself; off: 404.",
    )

    direct_sessions_per_hour: int = Field(
        0,
        ge=0,
        description="Browser-direct mode: sessions (client secrets minted, calls started) one "
        "voxgate key may start per hour; 0: no limit.",
    )
