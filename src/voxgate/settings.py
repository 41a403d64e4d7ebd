"""Settings from the environment (``VOXGATE_*``) or a ``.env`` file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a deployment may tune; each field documents itself for ``--help`` and the docs."""

    model_config = SettingsConfigDict(env_prefix="VOXGATE_", env_file=".env", extra="ignore")

    host: str = Field("127.0.0.1", description="Interface `voxgate serve` binds to.")
    port: int = Field(8000, description="Port `voxgate serve` listens on.")
    data_dir: Path = Field(Path("data"), description="Where voxgate keeps its files.")

    engine: Literal["local"] = Field(
        "local", description="Speech engine behind sessions: `local` runs fully offline."
    )
    instructions: str = Field(
        "You are a helpful voice assistant. Answer in one or two short sentences.",
        description="Default system instructions for new sessions.",
    )
    voice: str = Field(
        "joe", description="Voice of the local engine (the Piper voice the install ships)."
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

    stt_threads: int = Field(0, ge=0, description="CPU threads for Whisper (0: CTranslate2's own).")

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

    max_binary_frame_bytes: int = Field(
        256 * 1024, description="Largest binary audio frame a client may send."
    )
    client_queue_size: int = Field(
        256, ge=8, description="Pending events per client before deltas are dropped."
    )
