"""Who is in a session, and the host's controls: ``/api/sessions/{session_id}/participants``.

``GET`` lists the participants (id, role, transport, muted, gain, speaking, level);
``POST .../{participant_id}/mute`` (``{"muted": bool}``) and ``.../gain`` (``{"gain"}``, 0 to 4)
change how the mixer hears one; ``DELETE .../{participant_id}`` removes one (its connection
ends: WebSocket close 4000, a WebRTC peer hangs up). Each change reaches every participant as a
``voxgate.participant.*`` event. The caller needs the right to the session
(``SessionRights``: an API key, the session's ephemeral key, or anyone in the open default
but for a session opened with a key).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from voxgate.server.auth import APIError, Grant
from voxgate.server.gateway import Gateway, GatewayDep, LiveDep
from voxgate.session import Participant, Session

router = APIRouter(prefix="/api/sessions/{session_id}/participants", tags=["participants"])


class Mute(BaseModel):
    """Whether the participant's microphone is heard."""

    muted: bool


class Gain(BaseModel):
    """How loud the mixer takes the participant's microphone (1: as sent)."""

    gain: float = Field(ge=0.0, le=4.0)


def _session(gateway: Gateway, grant: Grant, session_id: str) -> Session:
    live = gateway.registry.get(session_id)
    gateway.rights.check(grant, session_id, live)
    if live is None:
        raise APIError(
            404,
            f"no live session {session_id!r}: it ended, or never started on this server",
            code="session_not_found",
        )
    return live


def _unknown(session: Session, participant_id: str) -> APIError:
    present = ", ".join(session.members) or "none"
    return APIError(
        404,
        f"no participant {participant_id!r} in session {session.id!r} (present: {present})",
        code="participant_not_found",
        param="participant_id",
    )


def _found(session: Session, who: Participant | None, participant_id: str) -> dict[str, Any]:
    if who is None:
        raise _unknown(session, participant_id)
    return session.roster.describe(who)


@router.get("")
async def list_participants(session_id: str, gateway: GatewayDep, grant: LiveDep) -> dict[str, Any]:
    """The session's participants, in the order they joined."""
    session = _session(gateway, grant, session_id)
    return {"session_id": session.id, "participants": session.roster.describe_all()}


@router.post("/{participant_id}/mute")
async def mute_participant(
    session_id: str, participant_id: str, body: Mute, gateway: GatewayDep, grant: LiveDep
) -> dict[str, Any]:
    """Mute (or unmute) a participant's microphone: the agent stops (or starts) hearing it."""
    session = _session(gateway, grant, session_id)
    return _found(session, session.roster.mute(participant_id, body.muted), participant_id)


@router.post("/{participant_id}/gain")
async def set_participant_gain(
    session_id: str, participant_id: str, body: Gain, gateway: GatewayDep, grant: LiveDep
) -> dict[str, Any]:
    """Set how loud the mixer takes a participant's microphone."""
    session = _session(gateway, grant, session_id)
    return _found(session, session.roster.set_gain(participant_id, body.gain), participant_id)


@router.delete("/{participant_id}")
async def remove_participant(
    session_id: str, participant_id: str, gateway: GatewayDep, grant: LiveDep
) -> dict[str, Any]:
    """Remove a participant: it is told, and its connection ends."""
    session = _session(gateway, grant, session_id)
    who = session.members.get(participant_id)
    if who is None:
        raise _unknown(session, participant_id)
    described = session.roster.describe(who)
    await session.remove(participant_id)
    return {**described, "removed": True}
