"""Client messages every transport accepts: GA events plus voxgate's few shortcuts.

The WebSocket and the WebRTC data channel carry the same JSON; this is the one place that
decodes it and hands it to the session.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from voxgate.protocol import Event, ProtocolError, parse_client_event
from voxgate.session import Session

ClientEventCheck = Callable[[Event], None]
"""A check of one client's GA events before its session gets them; raises ``ProtocolError``
to refuse one. server/ gives it (an ephemeral key's scope); the transports only call it."""

SESSION_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
"""What a client-chosen session id may look like."""

SESSION_ID_RULE = "session id must be 1-128 letters, digits, '_', '-' or '.'"


class TextTurn(BaseModel):
    """``{"type": "text", "text": ...}``: a typed user turn."""

    type: str
    text: str


async def _shortcut(session: Session, data: dict[str, Any]) -> bool:
    """Run a voxgate shortcut; False when ``data`` is not one."""
    type_ = data.get("type")
    if type_ == "text":
        try:
            turn = TextTurn.model_validate(data)
        except ValidationError:
            raise ProtocolError(
                "'text' needs a string field 'text'", code="invalid_value", param="text"
            ) from None
        if not turn.text.strip():
            raise ProtocolError("'text' is empty", code="invalid_value", param="text")
        await session.say(turn.text)
    elif type_ == "commit_audio":
        await session.commit_audio()
    elif type_ == "interrupt":
        await session.interrupt()
    else:
        return False
    return True


async def handle_text(
    session: Session, text: str, *, shortcuts: bool = True, check: ClientEventCheck | None = None
) -> None:
    """One JSON text message from a client; raises ``ProtocolError`` for bad input.

    ``shortcuts=False`` accepts GA client events only (the OpenAI-compatible endpoints);
    ``check`` may refuse a GA event before the session gets it.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"message is not valid JSON: {exc}", code="invalid_json") from None
    if shortcuts and isinstance(data, dict) and await _shortcut(session, data):
        return
    ev = parse_client_event(data)
    if check is not None:
        check(ev)
    await session.send(ev)
