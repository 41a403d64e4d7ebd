"""Settings from the environment (``VOXGATE_*``) or a ``.env`` file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Role = Literal["admin", "user", "viewer"]
"""What a user may do, most rights first: ``admin`` everything (users, everyone's runs and
sessions), ``user`` talk and manage their own data, ``viewer`` read their history only."""
ROLES: tuple[Role, ...] = get_args(Role)
RouteGroup = Literal["live", "history", "runs", "docs", "users"]
"""Routes that share a rule (``route_roles``): ``live`` sessions and the keys that open them,
``history`` read, ``runs`` (``/api/runs``), ``docs`` (``/docs``, ``/openapi.json``), ``users``
(the admin API)."""
Feature = Literal["live_voice", "webrtc", "direct_mode", "record_and_send"]
"""What a deployment may turn off, or keep from some roles (``feature_roles``)."""


class IceServer(BaseModel):
    """A STUN or TURN server, as in the browser's ``RTCIceServer``."""

    urls: str | list[str]
    username: str | None = None
    credential: str | None = None


class UsageLimit(BaseModel):
    """What one user of a role may use (``usage_limits``); a limit left out: none."""

    minutes_per_day: float | None = Field(None, gt=0)
    minutes_per_month: float | None = Field(None, gt=0)
    concurrent_sessions: int | None = Field(None, ge=1)


class Settings(BaseSettings):
    """Everything a deployment may tune; each field documents itself for ``--help`` and the docs."""

    model_config = SettingsConfigDict(env_prefix="VOXGATE_", env_file=".env", extra="ignore")

    host: str = Field("127.0.0.1", description="Interface `voxgate serve` binds to.")
    port: int = Field(8000, description="Port `voxgate serve` listens on.")
    data_dir: Path = Field(Path("data"), description="Where voxgate keeps its files.")
    database_url: str | None = Field(
        None,
        description="The store: a SQLAlchemy URL (`postgresql://user@host/db` for Postgres, "
        "asyncpg); default: the SQLite file `voxgate.db` in `data_dir`.",
    )
    summaries: bool = Field(
        True,
        description="When a live session ends, have its engine write a short summary of the "
        "conversation into the store (one text response of the session's model, at most 20 s, "
        "after the clients left; with engine `openai` it is billed as any response).",
    )

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
    auth_required: bool = Field(
        False,
        description="Require a credential on every route but `/healthz` and the page. It is "
        "also required whenever users exist (`voxgate users add`), `api_keys` are set or a JWT "
        "issuer is configured; otherwise the server is open, for a single local user.",
    )
    jwt_secret: str | None = Field(
        None,
        min_length=32,
        description="Accept JWTs signed HS256 with this shared secret (32 characters or more) "
        "as `Authorization: Bearer`: `sub` names the user, `jwt_role_claim` the role, `exp` is "
        "required.",
    )
    jwt_jwks_url: str | None = Field(
        None,
        description="Accept JWTs signed RS256 or ES256 by a key of this JWKS document (your "
        "identity provider's `jwks_uri`; fetched and cached).",
    )
    jwt_audience: str | None = Field(None, description="The `aud` a JWT must name, if set.")
    jwt_issuer: str | None = Field(None, description="The `iss` a JWT must name, if set.")
    jwt_role_claim: str = Field(
        "role",
        description="The JWT claim holding the role (`a.b` for a nested one; a list: its "
        "highest role among admin, user, viewer).",
    )
    jwt_default_role: Role | None = Field(
        "user", description="The role of a JWT without the role claim; empty: refuse it."
    )
    route_roles: dict[RouteGroup, list[Role]] = Field(
        default_factory=dict,
        description='Roles allowed per route group, JSON, e.g. {"runs": ["admin"]}; groups not '
        "named keep their defaults: live admin, user; history admin, user, viewer; runs admin, "
        "user; docs admin, user; users admin. An admin is always allowed.",
    )
    agent_roles: dict[str, list[Role]] = Field(
        default_factory=dict,
        description="Roles that may start a session with an agent (or a run of a runner), "
        'JSON, e.g. {"billing_agent": ["admin"]}; agents not named: anyone with `live`.',
    )
    feature_roles: dict[Feature, list[Role]] = Field(
        default_factory=dict,
        description='Roles that may use a feature, JSON, e.g. {"webrtc": ["admin", "user"]}: '
        "live_voice, webrtc, direct_mode, record_and_send. Features not named: every role the "
        "routes allow. For the others the feature's routes answer 404 and the page hides it.",
    )
    usage_limits: dict[Role, UsageLimit] = Field(
        default_factory=dict,
        description="Limits per user of a role, JSON, e.g. "
        '{"user": {"minutes_per_day": 30, "minutes_per_month": 300, "concurrent_sessions": 2}}: '
        "checked when a session starts (429 `usage_limit_reached`) and while it runs (a spoken "
        "notice, `voxgate.usage.limit_reached`, then the session ends). Roles not named: none.",
    )
    live_voice_enabled: bool = Field(
        True,
        description="Live voice over WebSockets (`/ws`, `/v1/realtime`); off: they answer "
        "404 (closed 1008 for `/ws`) and the page offers only what is left.",
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
    max_image_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Largest image an `input_image` part may carry, in decoded bytes (4 MiB; "
        "`image_too_large`). A message holding one may be this much (as base64) over "
        "`max_event_bytes`.",
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

    log_format: Literal["text", "json"] = Field(
        "text",
        description="`voxgate serve`'s log lines: `text`, or `json` (one object a line, with "
        "the session and participant ids).",
    )
    otel_enabled: bool = Field(
        False,
        description="OpenTelemetry spans per turn (session → turn → stt / llm / tts / tool), "
        "exported over OTLP as the `OTEL_*` variables say (needs `voxgate[otel]`); also on "
        "when `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_TRACES_EXPORTER` is set.",
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

    redis_url: str | None = Field(
        None,
        description="Cluster mode (docs/cluster.md): the Redis every node shares "
        "(`redis://host:6379/0`), for where each session lives, commands between nodes and "
        "limits across them; none: one node, no Redis.",
    )
    node_url: str | None = Field(
        None,
        description="Cluster mode: the base URL clients reach this node at (`http://10.0.0.5:8000`"
        "), named to clients of a session held here; default `http://{host}:{port}`.",
    )
    node_id: str | None = Field(
        None, description="Cluster mode: this node's id (default: host, port, process and time)."
    )
    cluster_prefix: str = Field(
        "voxgate", min_length=1, description="Cluster mode: the prefix of every Redis key."
    )
    cluster_heartbeat_s: float = Field(
        2.0, gt=0, description="Cluster mode: seconds between a node's heartbeats."
    )
    cluster_node_ttl_s: float = Field(
        6.0,
        gt=0,
        description="Cluster mode: a node silent this long is dead; its sessions are released "
        "and may be resumed on another node.",
    )
    cluster_command_timeout_s: float = Field(
        5.0,
        gt=0,
        description="Cluster mode: how long a node waits for the node holding a session to "
        "answer a forwarded command (mute, remove, end) before it answers 504.",
    )
    drain_seconds: float = Field(
        30.0,
        ge=0,
        description="Cluster mode: on SIGTERM, how long the node's live sessions may go on (their "
        "clients told `voxgate.session.draining`) before they are ended and the node exits.",
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

    record_and_send_enabled: bool = Field(
        True,
        description="Record-and-send (`/api/voice/transcribe|chat|tts|turn`): a recorded clip "
        "or a text posted, the agent's reply returned, in the same sessions as live voice; "
        "off: 404.",
    )
    record_max_upload_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        description="Largest recorded clip a client may post, in bytes (16 MiB holds a minute "
        "of 48 kHz stereo WAV).",
    )
    record_max_seconds: float = Field(
        60.0, gt=0, le=600, description="Longest recorded clip, in seconds of audio."
    )
    record_timeout_s: float = Field(
        60.0,
        gt=0,
        description="Seconds a record-and-send request waits for its transcript and for the "
        "agent to finish its reply (tool calls included) before it answers 504.",
    )
    record_keep_s: float = Field(
        600.0,
        ge=0,
        description="How long a record-and-send conversation outlives its last request, so the "
        "next one (its `conversation_id`) continues it.",
    )
    tts_max_chars: int = Field(
        4096, ge=1, description="Longest text `/api/voice/tts` speaks, in characters."
    )

    @field_validator("api_keys", "allowed_origins", "rate_limit_exempt_addresses", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("jwt_default_role", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _engine_has_credentials(self) -> Settings:
        if self.engine == "openai" or self.direct_mode_enabled:
            if self.azure_openai_endpoint and not self.azure_openai_api_key:
                raise ValueError(
                    "engine 'openai' / direct mode on Azure need VOXGATE_AZURE_OPENAI_API_KEY"
                )
            if not self.azure_openai_endpoint and not self.openai_api_key:
                raise ValueError("engine 'openai' / direct mode need VOXGATE_OPENAI_API_KEY")
        if self.redis_url and self.cluster_node_ttl_s <= self.cluster_heartbeat_s:
            raise ValueError("cluster_node_ttl_s must be longer than cluster_heartbeat_s")
        cartesia = self.engine == "openai" and self.openai_voice_provider == "cartesia"
        if cartesia and not (self.cartesia_api_key and self.cartesia_voice_id):
            raise ValueError(
                "openai_voice_provider 'cartesia' needs VOXGATE_CARTESIA_API_KEY and "
                "VOXGATE_CARTESIA_VOICE_ID"
            )
        return self
