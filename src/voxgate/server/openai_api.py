"""OpenAI's Realtime interface, served: ``WS /v1/realtime`` and ``POST /v1/realtime/calls``.

Apps and SDKs written for OpenAI use voxgate unchanged. A connection or call is a plain model
session (no server agent: the client brings its own instructions and tools), configured by an
ephemeral key's session if it came with one. ``/v1/realtime?call_id=`` is a call's sideband: it
joins the live session (the call id is the session id), for a key with the right to it
(``server/access.py``); in a cluster, a call another node holds is a 409 naming that node
(``server/cluster/answers.py``). Both belong to route group ``live``; ``/v1/realtime`` is feature
``live_voice``, ``/calls`` feature ``webrtc`` (``server/policy.py``). An ephemeral key's
connection or call is its own session (the id it was minted for); any other gets a new,
unguessable id. The protocol work is the transports'
(``transports.realtime``, ``transports.calls``, ``transports.webrtc``). Refusals are OpenAI's:
an HTTP status with an ``error`` body (on the WebSocket, before it opens).
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request, Response, WebSocket
from fastapi.responses import JSONResponse

from voxgate.affinity import new_session_id, pinned
from voxgate.protocol import ProtocolError, error_event
from voxgate.server.auth import APIError
from voxgate.server.controls import control
from voxgate.server.gateway import GatewayDep
from voxgate.server.scope import scope_check
from voxgate.server.sessions import check_room
from voxgate.session import Session
from voxgate.transports import realtime
from voxgate.transports.calls import read_offer
from voxgate.wire import WireLimits, validate

router = APIRouter()

OFFER_TYPES = ("application/sdp", "multipart/form-data")


@router.websocket("/v1/realtime")
async def realtime_socket(
    websocket: WebSocket,
    gateway: GatewayDep,
    model: str | None = None,
    call_id: str | None = None,
) -> None:
    """One Realtime connection: a new session (``?model=``) or a live one (``?call_id=``)."""
    edge = realtime.EdgeAudio()
    session: Session
    try:
        grant = await gateway.admit(websocket, "live", feature="live_voice")
        config = edge.to_engine(grant.session) if grant.session else None
        if call_id is not None:
            found = gateway.registry.get(call_id)
            gateway.rights.check(grant, call_id, found)
            if found is None and gateway.cluster is not None:
                await gateway.cluster.check_here(call_id)
            if found is None:
                raise APIError(404, f"no live call {call_id!r}", code="call_not_found")
            check_room(found)
            session = found
        elif model is None:
            raise APIError(
                400, "add ?model=<model> to the URL (or ?call_id=<call>)", code="missing_model"
            )
        else:
            session_id = grant.session_id or new_session_id()
            check_room(gateway.registry.get(session_id))
            session = await gateway.open_session(
                websocket, grant, session_id, transport="realtime", config=config
            )
    except ProtocolError as exc:
        await websocket.send_denial_response(
            APIError(400, str(exc), code=exc.code, param=exc.param).response()
        )
        return
    except APIError as exc:
        await websocket.send_denial_response(exc.response())
        return
    try:
        await realtime.serve_client(
            websocket,
            session,
            edge,
            gateway.settings,
            sideband=call_id is not None,
            check=scope_check(grant),
        )
    finally:
        # a new session no key names has no way back: it closes with its client
        resumable = call_id is not None or grant.session_id is not None
        await gateway.registry.release(session, grace=resumable)


def _bad_request(message: str, *, code: str, param: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": error_event(message, code=code, param=param)["error"]}, status_code=400
    )


@router.post("/v1/realtime/calls", status_code=201, response_model=None)
async def create_call(request: Request, gateway: GatewayDep) -> Response:
    """Start a WebRTC call: SDP offer in, SDP answer out (``201``, ``Location`` names the call).

    The body is ``application/sdp`` or ``multipart/form-data`` (``sdp``, ``session``): never a
    type a cross-site page may post without a CORS preflight. Its events travel on the
    ``oai-events`` data channel as GA events, its audio on the Opus track.
    """
    grant = await gateway.admit(request, "live", feature="webrtc")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in OFFER_TYPES:
        raise APIError(
            415,
            f"unsupported content type {content_type or 'none'!r}: send the SDP offer as "
            "application/sdp, or multipart form fields 'sdp' and 'session'",
            code="unsupported_content_type",
        )
    if gateway.cluster is not None and grant.session_id is not None:
        await gateway.cluster.check_here(grant.session_id)
    await gateway.limits.offers.take(request, grant)
    try:
        limits = WireLimits.from_settings(gateway.settings)
        sdp, config = await read_offer(request, limits)
        update = None
        if config is not None:
            update = validate({"type": "session.update", "session": config}, limits)
            if (check := scope_check(grant)) is not None:
                check(update)
    except ProtocolError as exc:
        return _bad_request(str(exc), code=exc.code, param=exc.param)
    if not sdp.strip().startswith("v="):
        return _bad_request("the body must be an SDP offer", code="invalid_sdp", param="sdp")
    call_id = grant.session_id or pinned(lambda: "rtc_" + secrets.token_hex(12))
    check_room(gateway.registry.get(call_id))
    session = await gateway.open_session(
        request, grant, call_id, transport="calls", config=grant.session
    )
    try:
        peer = await gateway.peers.open(
            session,
            sdp,
            ga_only=True,
            check=scope_check(grant),
            resumable=grant.session_id is not None,  # only an ephemeral key names the call
        )
    except ValueError as exc:
        return _bad_request(str(exc), code="invalid_sdp", param="sdp")
    except ProtocolError as exc:  # filled up while the offer was answered
        raise APIError(409, str(exc), code=exc.code) from None
    if update is not None:
        await peer.session.send(update)
    return Response(
        peer.answer_sdp,
        status_code=201,
        media_type="application/sdp",
        headers={"Location": f"/v1/realtime/calls/{call_id}"},
    )


@router.post("/v1/realtime/calls/{call_id}/hangup")
async def hangup(call_id: str, request: Request, gateway: GatewayDep) -> Response:
    """End a call: its peers hang up and the session closes (for a key with the right to it).

    In a cluster any node takes it: the node holding the call runs it (``server/controls.py``).
    """
    grant = await gateway.admit(request, "live")
    await control(gateway, grant, call_id, "hangup")
    return Response(status_code=200)
