"""The OpenAI Realtime GA event protocol as voxgate carries it.

Events are plain dicts with the spec's field names. One difference inside the process: audio
fields (``input_audio_buffer.append``'s ``audio``, ``response.output_audio.delta``'s ``delta``)
hold raw PCM16 ``bytes``; transports base64-encode them only where a wire wants JSON.
Client events are validated with the ``openai`` SDK's own models, not a copy of the spec.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import string
import typing
from typing import Any

from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
from pydantic import BaseModel, ValidationError

Event = dict[str, Any]

_ALPHABET = string.ascii_letters + string.digits
_AUDIO_FIELDS = {"input_audio_buffer.append": "audio", "response.output_audio.delta": "delta"}


def new_id(prefix: str) -> str:
    """An id in the spec's style: ``item_`` + 22 random characters."""
    # One read of the system's randomness per id (ids are made for every event, audio included).
    return f"{prefix}_" + "".join(_ALPHABET[b % 62] for b in secrets.token_bytes(22))


def event(type_: str, **fields: Any) -> Event:
    """A server event with a fresh ``event_id``."""
    return {"type": type_, "event_id": new_id("event"), **fields}


def text_message(text: str, role: str = "user") -> Event:
    """A GA ``message`` item of ``text`` (``input_text``) from ``role``."""
    return {"type": "message", "role": role, "content": [{"type": "input_text", "text": text}]}


def error_event(
    message: str,
    *,
    code: str,
    type_: str = "invalid_request_error",
    param: str | None = None,
    event_id: str | None = None,
) -> Event:
    """An ``error`` event the client can act on: what was wrong, which field, which event."""
    return event(
        "error",
        error={
            "type": type_,
            "code": code,
            "message": message,
            "param": param,
            "event_id": event_id,
        },
    )


class ProtocolError(Exception):
    """A client event voxgate refuses; becomes an ``error`` event, the session goes on."""

    def __init__(
        self, message: str, *, code: str, param: str | None = None, event_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.param = param
        self.event_id = event_id

    def to_event(self) -> Event:
        """The ``error`` event that reports this."""
        return error_event(str(self), code=self.code, param=self.param, event_id=self.event_id)


def _models_by_type(union: Any) -> dict[str, type[BaseModel]]:
    members = typing.get_args(typing.get_args(union)[0])
    return {typing.get_args(m.model_fields["type"].annotation)[0]: m for m in members}


CLIENT_EVENT_MODELS = _models_by_type(RealtimeClientEvent)
SERVER_EVENT_MODELS = _models_by_type(RealtimeServerEvent)


def parse_client_event(data: Any) -> Event:
    """Validate a decoded JSON client event; decode its base64 audio to bytes."""
    if not isinstance(data, dict):
        raise ProtocolError("an event must be a JSON object", code="invalid_event")
    event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
    type_ = data.get("type")
    if not isinstance(type_, str):
        raise ProtocolError(
            "an event needs a string 'type'", code="invalid_event", param="type", event_id=event_id
        )
    model = CLIENT_EVENT_MODELS.get(type_)
    if model is None:
        raise ProtocolError(
            f"unknown event type {type_!r}",
            code="unknown_event_type",
            param="type",
            event_id=event_id,
        )
    try:
        model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProtocolError(
            f"invalid {type_!r}: {where}: {first['msg']}",
            code="invalid_value",
            param=where,
            event_id=event_id,
        ) from None
    field = _AUDIO_FIELDS.get(type_)
    if field is not None:
        try:
            pcm = base64.b64decode(data[field], validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError(
                f"{field!r} must be base64", code="invalid_value", param=field, event_id=event_id
            ) from None
        data = {**data, field: pcm}
    return data


def to_wire(ev: Event) -> Event:
    """The JSON-ready form of an event: audio bytes become base64."""
    field = _AUDIO_FIELDS.get(ev["type"])
    if field is not None and isinstance(ev.get(field), bytes | bytearray):
        return {**ev, field: base64.b64encode(ev[field]).decode("ascii")}
    return ev


def from_wire(ev: Event) -> Event:
    """The in-process form of a wire event: base64 audio becomes bytes (as ``to_wire`` undoes)."""
    field = _AUDIO_FIELDS.get(ev.get("type", ""))
    if field is not None and isinstance(ev.get(field), str):
        try:
            return {**ev, field: base64.b64decode(ev[field], validate=True)}
        except (binascii.Error, ValueError):
            raise ProtocolError(
                f"{field!r} must be base64", code="invalid_value", param=field
            ) from None
    return ev


def validate_server_event(ev: Event) -> BaseModel:
    """Strictly check a wire-form server event against the SDK's model for its type."""
    model = SERVER_EVENT_MODELS.get(ev["type"])
    if model is None:
        raise ValueError(f"not a GA server event type: {ev['type']!r}")
    return model.model_validate(ev, strict=False)
