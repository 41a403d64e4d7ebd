"""Settings from the environment (``VOXGATE_*``) or a ``.env`` file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class IceServer(BaseModel):
    """A STUN or TURN server, as in the browser's ``RTCIceServer``."""

    urls: str | list[str]
    username: str | None = None
    credential: str | None = None


class Settings(BaseSettings):
    """Everything a deployment may tune; each field documents itself for ``--help`` and the docs."""

    model_config = SettingsConfigDict(env_prefix="VOXGATE_", env_file=".env", extra="ignore")

    host: str = Field("127.0.0.1", description="Interface `voxgate serve` binds to.")
    port: int = Field(8000, description="Port `voxgate serve` listens on.")
    data_dir: Path = Field(Path("data"), description="Where voxgate keeps its files.")

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
    api_keys: Annotated[list[str], NoDecode] = Field(
        [],
        description="API keys, comma-separated: when set, every route but `/healthz` and the "
        "page (`/`, `/static`) needs one (or an ephemeral `ek_` key for its own session). None "
        "set: open, for a single local user (any bearer is accepted).",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        [
            "http://localhost:*",
            "http://127.0.0.1:*",
            "http://[::1]:*",
            "https://localhost:*",
            "https://127.0.0.1:*",
            "https://[::1]:*",
        ],
        description="Browser origins (`Origin` header) allowed on WebSockets and API routes, "
        "comma-separated, besides the server's own host; `:*` is any port, `*` any origin. "
        "Requests without an `Origin` (non-browser clients) are not affected.",
    )
    sessions_per_minute: int = Field(
        60, ge=0, description="New sessions a client address may open a minute; 0: no limit."
    )
    offers_per_minute: int = Field(
        30, ge=0, description="WebRTC offers a client address may make a minute; 0: no limit."
    )
    client_secrets_per_minute: int = Field(
        60, ge=0, description="Client secrets a client address may mint a minute; 0: no limit."
    )
    rate_limit_key_factor: int = Field(
        10,
        ge=1,
        description="A key's limits, as a multiple of an address's (one key may serve a "
        "backend's many users).",
    )
    rate_limit_exempt_addresses: Annotated[list[str], NoDecode] = Field(
        ["127.0.0.1", "::1"],
        description="Client addresses without a per-address limit (per-key limits still apply), "
        "comma-separated. Behind a reverse proxy, let uvicorn see the caller's address "
        "(`X-Forwarded-For`) or empty this list.",
    )
    client_secret_ttl_s: int = Field(
        600, ge=10, le=7200, description="Default lifetime of an ephemeral `ek_` client secret."
    )

    max_binary_frame_bytes: int = Field(
        256 * 1024, description="Largest binary audio frame a client may send."
    )
    client_queue_size: int = Field(
        256, ge=8, description="Pending events per client before deltas are dropped."
    )
    client_queue_limit: int = Field(
        4096,
        ge=8,
        description="Pending events per client past which it is disconnected as too slow "
        "(close 1008); `error` events past 32 pending are dropped before that.",
    )
    client_send_timeout_s: float = Field(
        15.0,
        gt=0,
        description="Seconds one event may take to reach a client before it is disconnected "
        "as too slow (a client that stops reading).",
    )
    max_event_bytes: int = Field(
        2 * 1024 * 1024,
        ge=1024,
        description="Largest JSON client event (a text frame or data-channel message), in "
        "bytes; larger ones are refused unread (`event_too_large`).",
    )
    max_json_depth: int = Field(
        32,
        ge=4,
        le=200,
        description="Deepest nesting of arrays and objects in a client event (`json_too_deep`).",
    )
    max_audio_append_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Most audio one `input_audio_buffer.append` may carry, in decoded bytes "
        "(1 MiB: ~21 s of PCM16 24 kHz; `audio_too_large`).",
    )
    max_item_text_chars: int = Field(
        64_000,
        ge=1,
        description="Longest text of a conversation item (a message's text, a function "
        "call's arguments or output, a `text` shortcut), in characters.",
    )
    max_instructions_chars: int = Field(
        64_000,
        ge=1,
        description="Longest `instructions` of a `session.update` or `response.create`.",
    )
    ws_ping_interval_s: float = Field(
        20.0, gt=0, description="`voxgate serve`: seconds between WebSocket keepalive pings."
    )
    ws_ping_timeout_s: float = Field(
        20.0,
        gt=0,
        description="`voxgate serve`: seconds a WebSocket client has to answer a ping before "
        "it is dropped.",
    )
    loop_lag_warn_ms: float = Field(
        100.0,
        gt=0,
        description="Event-loop scheduling delay past which the server logs a warning (one "
        "stalled callback delays every session).",
    )

    session_grace_seconds: float = Field(
        30.0,
        ge=0.0,
        description="How long a session outlives its last client (any transport), so a client "
        "that dropped resumes it with its session id; 0: it closes at once.",
    )
    max_participants: int = Field(
        8,
        ge=1,
        le=256,
        description="Most clients in one session (speakers, listeners and sidebands); one more "
        "is refused (`session_full`).",
    )

    webrtc_enabled: bool = Field(
        True,
        description="Serve WebRTC (`/api/webrtc/offer`, `/v1/realtime/calls`); off: they answer "
        "404 and the web page uses the WebSocket.",
    )
    webrtc_ice_servers: list[IceServer] = Field(
        default_factory=list,
        description='STUN/TURN servers as JSON, e.g. [{"urls": "stun:stun.example.org"}]; '
        "none: host candidates only (LAN, localhost).",
    )

    @field_validator("api_keys", "allowed_origins", "rate_limit_exempt_addresses", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @model_validator(mode="after")
    def _engine_has_credentials(self) -> Settings:
        if self.engine == "openai" or self.direct_mode_enabled:
            if self.azure_openai_endpoint and not self.azure_openai_api_key:
                raise ValueError(
                    "engine 'openai' / direct mode on Azure need VOXGATE_AZURE_OPENAI_API_KEY"
                )
            if not self.azure_openai_endpoint and not self.openai_api_key:
                raise ValueError("engine 'openai' / direct mode need VOXGATE_OPENAI_API_KEY")
        cartesia = self.engine == "openai" and self.openai_voice_provider == "cartesia"
        if cartesia and not (self.cartesia_api_key and self.cartesia_voice_id):
            raise ValueError(
                "openai_voice_provider 'cartesia' needs VOXGATE_CARTESIA_API_KEY and "
                "VOXGATE_CARTESIA_VOICE_ID"
            )
        return self
