"""Bounds on what a client may send and how long the server waits for it."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class BoundSettings(BaseSettings):
    """Sizes of client messages and queues, and send timeouts."""

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
