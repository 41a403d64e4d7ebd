"""voxgate's own session routes: ``WS /ws/{session_id}`` and ``POST /api/webrtc/offer``.

A client names the session to join or resume, its role in it (``?role=`` / ``"role"``:
``speaker``, the default, or ``listener``), and for a new session the agent it starts with
(``?agent=`` / ``"agent"``, if its role may use it); the transports then carry it
(``transports.websocket``, ``transports.webrtc``); a new session of a stored conversation's id
resumes that conversation (the gateway). When the server requires a credential both
need one that opens the session: its owner's key or token, an admin's, or the ticket minted for
it (on the WebSocket as ``?ticket=`` or the ``openai-insecure-api-key.<ticket>`` subprotocol).
Live voice (``/ws``) and WebRTC are features a deployment or a role may lack (404). An offer
without ``session_id`` gets a new, unguessable one. A full session (``max_participants``) is
refused: an ``error`` and close 1008, or a 409. In a cluster, a session another node holds is
refused with that node's URL: close 4409, or a 409 (``server/cluster/answers.py``).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, WebSocket
from pydantic import BaseModel, Field

from voxgate.affinity import new_session_id
from voxgate.protocol import Event, ProtocolError, error_event
from voxgate.server.auth import APIError, Grant
from voxgate.server.gateway import Gateway, GatewayDep, VoiceDep, WebRtcDep
from voxgate.server.scope import scope_check
from voxgate.session import AgentFactory, Session, parse_role
from voxgate.session.participants import session_full
from voxgate.transports import websocket as ws_transport
from voxgate.transports.messages import SESSION_ID, SESSION_ID_RULE
from voxgate.transports.realtime import SUBPROTOCOL, EdgeAudio

router = APIRouter()


def minted_config(grant: Grant) -> Event | None:
    """An ephemeral key's session configuration, as the engine takes it (PCM audio)."""
    return EdgeAudio().to_engine(grant.session) if grant.session else None


def starting_agent(
    gateway: Gateway, grant: Grant, name: str | None, session_id: str
) -> AgentFactory | None:
    """The agent session ``session_id`` starts with, if new and the grant's role may use it.

    ``ValueError``: no such agent; ``APIError`` 403: not for this role.
    """
    starting = gateway.agents.starting(name)
    chosen = name or (gateway.agents.names[0] if gateway.agents.names else None)
    if chosen is not None and gateway.registry.get(session_id) is None:
        gateway.policy.require_agent(grant, chosen)
    return starting


def check_room(session: Session | None) -> None:
    """A 409 for a session that has no room for another participant."""
    if session is not None and session.roster.full:
        error = session_full(session.id, len(session.members))
        raise APIError(409, str(error), code=error.code)


@router.websocket("/ws/{session_id}")
async def session_socket(
    websocket: WebSocket,
    session_id: str,
    gateway: GatewayDep,
    grant: VoiceDep,
    agent: str | None = None,
    role: str | None = None,
) -> None:
    """One client of session ``session_id`` as ``role`` (``speaker`` or ``listener``).

    A new session starts with agent ``agent``.
    """
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    subprotocol = SUBPROTOCOL if SUBPROTOCOL in offered else None
    if not SESSION_ID.match(session_id):
        await websocket.accept(subprotocol=subprotocol)
        await websocket.send_json(error_event(SESSION_ID_RULE, code="invalid_session_id"))
        await websocket.close(code=1008)
        return
    try:
        starting = starting_agent(gateway, grant, agent, session_id)
    except ValueError as exc:
        await websocket.accept(subprotocol=subprotocol)
        await websocket.send_json(error_event(str(exc), code="unknown_agent", param="agent"))
        await websocket.close(code=1008)
        return
    try:
        chosen = parse_role(role)
    except ProtocolError as exc:
        await websocket.accept(subprotocol=subprotocol)
        await websocket.send_json(exc.to_event())
        await websocket.close(code=1008, reason=str(exc)[:120])
        return
    session = await gateway.open_session(
        websocket,
        grant,
        session_id,
        transport="ws",
        agent=starting,
        agent_name=agent,
        config=minted_config(grant),
    )
    await websocket.accept(subprotocol=subprotocol)
    try:
        await ws_transport.serve_client(
            websocket, session, gateway.settings, check=scope_check(grant), role=chosen
        )
    finally:
        await gateway.registry.release(session)


class Offer(BaseModel):
    """The browser's ``RTCSessionDescription``, plus the session to join or resume."""

    sdp: str = Field(min_length=1)
    type: str = "offer"
    session_id: str | None = None
    agent: str | None = Field(None, description="The agent a new session starts with.")
    role: str | None = Field(
        None, description="`speaker` (default: heard by the agent) or `listener` (hears only)."
    )


class Answer(BaseModel):
    """The server's SDP answer, the session the peer is in, and its participant id there."""

    sdp: str
    type: str = "answer"
    session_id: str
    participant_id: str


@router.post("/api/webrtc/offer")
async def webrtc_offer(
    offer: Offer, request: Request, gateway: GatewayDep, grant: WebRtcDep
) -> Answer:
    """Connect a WebRTC client: SDP offer in, SDP answer out (candidates included)."""
    if offer.type != "offer":
        raise HTTPException(400, f"expected an SDP of type 'offer', got {offer.type!r}")
    if offer.session_id is not None and not SESSION_ID.match(offer.session_id):
        raise HTTPException(400, SESSION_ID_RULE)
    session_id = offer.session_id or grant.session_id or new_session_id()
    try:
        starting = starting_agent(gateway, grant, offer.agent, session_id)
        config = minted_config(grant)
        role = parse_role(offer.role)
    except (ValueError, ProtocolError) as exc:
        raise HTTPException(400, str(exc)) from None
    live = gateway.registry.get(session_id)
    gateway.rights.check(grant, session_id, live)
    check_room(live)
    if live is None and gateway.cluster is not None:
        await gateway.cluster.check_here(session_id)
    await gateway.limits.offers.take(request, grant)
    session = await gateway.open_session(
        request,
        grant,
        session_id,
        transport="webrtc",
        agent=starting,
        agent_name=offer.agent,
        config=config,
    )
    try:
        peer = await gateway.peers.open(session, offer.sdp, check=scope_check(grant), role=role)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    except ProtocolError as exc:  # filled up while the offer was answered
        raise APIError(409, str(exc), code=exc.code) from None
    assert peer.participant is not None
    return Answer(
        sdp=peer.answer_sdp, session_id=peer.session.id, participant_id=peer.participant.id
    )
