"""What the holder of an ephemeral key may change of the configuration it was minted with.

A field the minting set is fixed, with three exceptions: ``max_output_tokens`` may go lower,
``output_modalities`` may become a subset, and the client's own audio formats
(``audio.input.format``, ``audio.output.format``) are the client's to choose. Fields the minting
left out are free. The same holds for a ``response.create``'s per-response overrides, so a
response cannot take what the session may not. A refused event is an ``error`` naming the field
(``param``); nothing of it is applied.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from voxgate.protocol import Event, ProtocolError
from voxgate.server.auth import Grant

CLIENT_OWN = {("audio", "input", "format"), ("audio", "output", "format")}


def scope_check(grant: Grant) -> Callable[[Event], None] | None:
    """The per-client check of an ephemeral key's events; None for any other key."""
    minted = grant.session
    if grant.kind != "client_secret" or minted is None:
        return None

    def check(ev: Event) -> None:
        try:
            if ev["type"] == "session.update":
                _within(ev.get("session") or {}, minted, ("session",))
            elif ev["type"] == "response.create":
                _within(ev.get("response") or {}, minted, ("response",))
        except ProtocolError as exc:
            exc.event_id = ev.get("event_id")
            raise

    return check


def _within(update: dict[str, Any], minted: dict[str, Any], path: tuple[str, ...]) -> None:
    for key, value in update.items():
        where = (*path, key)
        if where[1:] in CLIENT_OWN or key not in minted:
            continue
        allowed = minted[key]
        if where[1:] == ("max_output_tokens",):
            if _tokens(value) > _tokens(allowed):
                _refuse(where, f"allows at most {allowed!r} ({value!r} is more)")
        elif where[1:] == ("output_modalities",):
            if not isinstance(value, list) or not set(value) <= set(allowed):
                _refuse(where, f"allows only {allowed!r}")
        elif isinstance(value, dict) and isinstance(allowed, dict):
            _within(value, allowed, where)
        elif value != allowed:
            _refuse(where, "fixes it")


def _tokens(value: Any) -> float:
    return math.inf if value == "inf" or not isinstance(value, int | float) else float(value)


def _refuse(where: tuple[str, ...], why: str) -> None:
    field = ".".join(where)
    raise ProtocolError(
        f"{field}: the ephemeral key this client connected with {why}; a client may narrow "
        "its minted configuration, not widen it",
        code="scope_exceeded",
        param=field,
    )
