"""Where and how a node serves: address, store, logs, sessions, WebRTC, record-and-send."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings


class IceServer(BaseModel):
    """A STUN or TURN server, as in the browser's ``RTCIceServer``."""

    urls: str | list[str]
    username: str | None = None
    credential: str | None = None


class ServerSettings(BaseSettings):
    """The node itself: where it listens and keeps data, its logs, sessions and page features."""

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
