"""Browser-direct mode: the browser talks to the Realtime service, voxgate holds the key.

``POST /api/realtime/client-secret`` mints an upstream ephemeral key carrying the server's
session configuration (instructions, voice, model), so the provider key never reaches a browser
and the browser cannot choose another configuration. ``POST /api/realtime/webrtc-offer`` instead
passes the browser's SDP offer to the upstream's ``/realtime/calls`` with the server's key, and
joins the call on its sideband connection (``server/direct_listener.py``: the agent's tools,
the call recorded in the store as the conversation of the call's id);
``GET /api/realtime/transcripts/{call_id}`` reads that conversation's turns and ``POST
/api/realtime/transcripts`` adds turns from a client that keeps its own. Off unless
``direct_mode_enabled`` (or for a role ``feature_roles`` keeps it from): then the mode's
endpoints answer 404. Minting and calls take an API key or a token of a role that may use live
sessions (or the open default) and count against the rate limits; a ticket reads and writes
only the transcript of its own session id, and another user's call is a 403.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any, Literal

import httpx
import openai
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from voxgate.engines.openai.connect import realtime_client
from voxgate.engines.openai.engine import initial_session
from voxgate.server.access import conversation_forbidden, owns
from voxgate.server.auth import APIError, Grant
from voxgate.server.gateway import DirectDep, GatewayDep, allow
from voxgate.store import ConversationRef
from voxgate.store.records import NewItem, PutItem

log = logging.getLogger(__name__)
CALL_ID = r"^[A-Za-z0-9_-]{1,64}$"

router = APIRouter()


DirectLive = Annotated[Grant, Depends(allow("live", feature="direct_mode"))]
"""Writing a call's transcript (a ticket too, for its own session)."""
DirectHistory = Annotated[Grant, Depends(allow("history", feature="direct_mode"))]
"""Reading a call's transcript."""


@router.post("/api/realtime/client-secret")
async def mint_client_secret(
    request: Request,
    gateway: GatewayDep,
    grant: DirectDep,
) -> dict[str, Any]:
    """An upstream ephemeral key for this server's session configuration."""
    await gateway.limits.client_secrets.take(request, grant)
    await gateway.usage.admit(grant)  # the role's limits, as for any session
    gateway.session_limit.take(grant.caller)
    settings = gateway.settings
    session = {"model": settings.openai_model, **initial_session(settings, None)}
    try:
        secret = await realtime_client(settings).realtime.client_secrets.create(
            session=session,  # type: ignore[arg-type]
            expires_after={"anchor": "created_at", "seconds": settings.client_secret_ttl_s},
        )
    except openai.APIError as exc:
        raise APIError(
            502,
            f"the realtime upstream refused: {exc}",
            code="upstream_error",
            type_="server_error",
        ) from None
    return secret.model_dump(mode="json", exclude_none=True)


class DirectOffer(BaseModel):
    """The browser's SDP offer for a call straight to the upstream."""

    model_config = ConfigDict(extra="forbid")
    sdp: str = Field(min_length=1, max_length=100_000)
    type: Literal["offer"] = "offer"


class DirectAnswer(BaseModel):
    """The upstream's SDP answer and the call's id (its transcript's key)."""

    sdp: str
    type: Literal["answer"] = "answer"
    call_id: str


@router.post("/api/realtime/webrtc-offer")
async def webrtc_offer(
    offer: DirectOffer,
    request: Request,
    gateway: GatewayDep,
    grant: DirectDep,
) -> DirectAnswer:
    """Start a call at the upstream with the server's key; voxgate listens on its sideband."""
    settings = gateway.settings
    if settings.azure_openai_endpoint:
        raise APIError(
            501, "direct WebRTC calls are not supported with Azure", code="not_supported"
        )
    await gateway.limits.offers.take(request, grant)
    await gateway.usage.admit(grant)  # the role's limits, as for any session
    gateway.session_limit.take(grant.caller)
    session = {"model": settings.openai_model, **initial_session(settings, None)}
    url = settings.openai_base_url.rstrip("/") + "/realtime/calls"
    files = {"sdp": (None, offer.sdp), "session": (None, json.dumps(session))}
    headers = {"Authorization": f"Bearer {settings.openai_api_key}"}
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(url, files=files, headers=headers)
    except httpx.HTTPError as exc:
        raise APIError(
            502,
            f"the realtime upstream is unreachable: {exc}",
            code="upstream_error",
            type_="server_error",
        ) from None
    if r.status_code not in (200, 201):
        message = _upstream_message(r)
        if r.status_code == 400:  # the offer itself was refused: the browser's to fix
            raise APIError(400, f"the upstream refused the offer: {message}", code="invalid_sdp")
        raise APIError(
            502,
            f"the realtime upstream refused ({r.status_code}): {message}",
            code="upstream_error",
            type_="server_error",
        )
    call_id = (r.headers.get("location") or "").rstrip("/").rsplit("/", 1)[-1]
    if not call_id:
        raise APIError(
            502,
            "the upstream answered without a call id (Location)",
            code="upstream_error",
            type_="server_error",
        )
    gateway.rights.claim(call_id, grant)
    listener = await gateway.direct_calls.listen(
        call_id, gateway.recording(grant, call_id, transport="direct", restore=False)
    )
    gateway.usage.track(listener.session, grant)
    return DirectAnswer(sdp=r.text, call_id=call_id)


def _upstream_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:300]


MAX_CALL_ITEMS = 10_000
"""Turns a call's conversation holds at most: clients posting more get a 413."""


class TranscriptTurn(BaseModel):
    """One turn a client heard."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    text: str = Field(min_length=1, max_length=20_000)
    item_id: str | None = Field(None, pattern=CALL_ID)


class ClientTranscript(BaseModel):
    """Turns of a call, from a client that records its own."""

    model_config = ConfigDict(extra="forbid")
    call_id: str = Field(pattern=CALL_ID)
    entries: list[TranscriptTurn] = Field(min_length=1, max_length=1000)


def store_unavailable(exc: Exception) -> APIError:
    """The 503 for a store that did not answer (the client may try again)."""
    log.warning("the store failed a transcript request: %r", exc)
    return APIError(
        503,
        "the store is unavailable right now; try again shortly",
        code="store_unavailable",
        type_="server_error",
    )


@router.post("/api/realtime/transcripts", status_code=201)
async def add_transcript(
    body: ClientTranscript,
    gateway: GatewayDep,
    grant: DirectLive,
) -> dict[str, Any]:
    """Add a client's turns of a call (a turn with a known ``item_id`` replaces it)."""
    gateway.rights.check_call(grant, body.call_id, claim=True)
    await gateway.check_conversation(grant, body.call_id)
    ref = ConversationRef(
        body.call_id, user_id=grant.user_id, transport="direct", admin=grant.role == "admin"
    )
    writes = [
        PutItem(
            ref,
            NewItem("message", t.text, role=t.role, item_id=t.item_id, data={"source": "client"}),
        )
        for t in body.entries
    ]
    try:
        held = await gateway.history.count_items(body.call_id)
        if held + len(writes) > MAX_CALL_ITEMS:
            raise APIError(
                413,
                f"call {body.call_id!r} holds {held} turns; at most {MAX_CALL_ITEMS} are kept "
                "for one call (start a new call, or delete this one's conversation)",
                code="transcript_too_long",
            )
        refused = await gateway.history.apply(writes)
    except APIError:
        raise
    except Exception as exc:
        raise store_unavailable(exc) from None
    if refused:
        raise conversation_forbidden(body.call_id)
    return {"call_id": body.call_id, "accepted": len(body.entries)}


@router.get("/api/realtime/transcripts/{call_id}")
async def get_transcript(
    call_id: str,
    gateway: GatewayDep,
    grant: DirectHistory,
) -> dict[str, Any]:
    """A call's turns so far (what voxgate heard on its sideband, and what clients posted)."""
    gateway.rights.check_call(grant, call_id)
    try:
        if gateway.recorder.waiting_for(call_id):
            await gateway.recorder.flush(timeout=2)
        stored = await gateway.history.get(call_id)
    except Exception as exc:
        raise store_unavailable(exc) from None
    if stored is None:
        raise APIError(404, f"no transcript for call {call_id!r}", code="not_found")
    if not owns(grant, stored.info.user_id):
        raise conversation_forbidden(call_id)
    entries = [
        {
            "role": item.role,
            "text": item.text,
            "item_id": item.item_id,
            "source": (item.data or {}).get("source", "sideband"),
        }
        for item in stored.items
        if item.type == "message" and item.role in ("user", "assistant") and item.text
    ]
    return {"call_id": call_id, "entries": entries}
