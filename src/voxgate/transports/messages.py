"""Client messages every transport accepts: GA events plus voxgate's few shortcuts.

The WebSocket and the WebRTC data channel carry the same JSON; this is the one place that
decodes it and hands it to the session.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from voxgate.protocol import Event, ProtocolError
from voxgate.session import Participant, Session
from voxgate.wire import WireLimits, load_event, validate_event

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


async def _shortcut(
    session: Session, data: dict[str, Any], limits: WireLimits, participant: Participant | None
) -> bool:
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
        if len(turn.text) > limits.max_item_text_chars:
            raise ProtocolError(
                f"'text' of {len(turn.text)} characters is over the "
                f"{limits.max_item_text_chars}-character limit",
                code="string_above_max_length",
                param="text",
            )
        await session.say(turn.text, participant)
    elif type_ == "commit_audio":
        await session.commit_audio(participant)
    elif type_ == "interrupt":
        await session.interrupt(participant)
    else:
        return False
    return True


async def handle_text(
    session: Session,
    text: str,
    limits: WireLimits,
    *,
    shortcuts: bool = True,
    check: ClientEventCheck | None = None,
    participant: Participant | None = None,
) -> None:
    """One JSON text message from ``participant``; raises ``ProtocolError`` for bad input.

    Bounded by ``limits`` before it is parsed; a large one is parsed and validated off the
    event loop. ``shortcuts=False`` accepts GA client events only (the OpenAI-compatible
    endpoints); ``check`` may refuse a GA event before the session gets it.
    """
    data = await load_event(text, limits)
    if shortcuts and isinstance(data, dict) and await _shortcut(session, data, limits, participant):
        return
    ev = await validate_event(data, limits, size=len(text))
    if check is not None:
        check(ev)
    await session.send(ev, participant)
