"""``POST /v1/realtime/calls``: OpenAI's WebRTC interface, served by voxgate.

The body is the SDP offer (``application/sdp``), or multipart form fields ``sdp`` and ``session``
(a GA session config). The answer is ``201`` with ``application/sdp`` and a ``Location`` naming
the call; the call's events travel on the ``oai-events`` data channel as GA events, its audio
on the Opus track. The call id is also the session id, so a sideband can find the session.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from voxgate.protocol import ProtocolError, error_event, parse_client_event
from voxgate.server.auth import authenticate
from voxgate.transports.webrtc import Peer, open_peer

router = APIRouter()


def _bad_request(message: str, *, code: str, param: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": error_event(message, code=code, param=param)["error"]}, status_code=400
    )


async def _read_offer(request: Request) -> tuple[str, Any]:
    """``(sdp, session config or None)`` from either body shape."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form()
        sdp, session = form.get("sdp"), form.get("session")
        if sdp is not None and not isinstance(sdp, str):
            sdp = (await sdp.read()).decode("utf-8", "replace")
        if session is not None and not isinstance(session, str):
            session = (await session.read()).decode("utf-8", "replace")
        if session is not None:
            try:
                session = json.loads(session)
            except json.JSONDecodeError as exc:
                raise ProtocolError(
                    f"'session' is not valid JSON: {exc}", code="invalid_json", param="session"
                ) from None
        return sdp or "", session
    if content_type in ("application/sdp", "text/plain", ""):
        return (await request.body()).decode("utf-8", "replace"), None
    raise ProtocolError(
        f"unsupported content type {content_type!r}: send application/sdp, or multipart "
        "form fields 'sdp' and 'session'",
        code="unsupported_content_type",
    )


@router.post("/v1/realtime/calls", status_code=201, response_model=None)
async def create_call(request: Request) -> Response:
    """Start a WebRTC call: SDP offer in, SDP answer out."""
    if not request.app.state.settings.webrtc_enabled:
        raise HTTPException(404, "WebRTC is turned off on this server (VOXGATE_WEBRTC_ENABLED)")
    grant = authenticate(request)
    try:
        sdp, session = await _read_offer(request)
        update = None
        if session is not None:
            update = parse_client_event({"type": "session.update", "session": session})
    except ProtocolError as exc:
        return _bad_request(str(exc), code=exc.code, param=exc.param)
    if not sdp.strip().startswith("v="):
        return _bad_request("the body must be an SDP offer", code="invalid_sdp", param="sdp")
    call_id = "rtc_" + secrets.token_hex(12)
    try:
        # a plain model session, as OpenAI's: the caller brings instructions and tools
        peer = await open_peer(
            request.app, sdp, session_id=call_id, ga_only=True, config=grant.session, agent=False
        )
    except ValueError as exc:
        return _bad_request(str(exc), code="invalid_sdp", param="sdp")
    if update is not None:
        await peer.session.send(update)
    return Response(
        peer.answer_sdp,
        status_code=201,
        media_type="application/sdp",
        headers={"Location": f"/v1/realtime/calls/{call_id}"},
    )


@router.post("/v1/realtime/calls/{call_id}/hangup")
async def hangup(call_id: str, request: Request) -> Response:
    """End a call: its peers hang up and the session closes."""
    authenticate(request)
    peers: dict[str, Peer] = request.app.state.peers
    found = [p for p in peers.values() if p.session.id == call_id]
    if not found:
        raise HTTPException(404, f"no call {call_id!r}")
    for peer in found:
        await peer.close(reason="hung up")
    await request.app.state.registry.release(found[0].session)
    return Response(status_code=200)
