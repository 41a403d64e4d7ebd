"""Who is in a session, and the host's controls: ``/api/sessions/{session_id}/participants``.

``GET`` lists the participants (id, role, transport, muted, gain, speaking, level);
``POST .../{participant_id}/mute`` (``{"muted": bool}``) and ``.../gain`` (``{"gain"}``, 0 to 4)
change how the mixer hears one; ``DELETE .../{participant_id}`` removes one (its connection
ends: WebSocket close 4000, a WebRTC peer hangs up). Each change reaches every participant as a
``voxgate.participant.*`` event. The caller needs the right to the session
(``SessionRights``: an API key, the session's ephemeral key, or anyone in the open default
but for a session opened with a key). In a cluster, any node answers for a session another node
holds: the command is run there (``server/controls.py``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from voxgate.server.controls import control
from voxgate.server.gateway import GatewayDep, LiveDep

router = APIRouter(prefix="/api/sessions/{session_id}/participants", tags=["participants"])


class Mute(BaseModel):
    """Whether the participant's microphone is heard."""

    muted: bool


class Gain(BaseModel):
    """How loud the mixer takes the participant's microphone (1: as sent)."""

    gain: float = Field(ge=0.0, le=4.0)


@router.get("")
async def list_participants(session_id: str, gateway: GatewayDep, grant: LiveDep) -> dict[str, Any]:
    """The session's participants, in the order they joined."""
    return await control(gateway, grant, session_id, "list")


@router.post("/{participant_id}/mute")
async def mute_participant(
    session_id: str, participant_id: str, body: Mute, gateway: GatewayDep, grant: LiveDep
) -> dict[str, Any]:
    """Mute (or unmute) a participant's microphone: the agent stops (or starts) hearing it."""
    args = {"participant_id": participant_id, "muted": body.muted}
    return await control(gateway, grant, session_id, "mute", args)


@router.post("/{participant_id}/gain")
async def set_participant_gain(
    session_id: str, participant_id: str, body: Gain, gateway: GatewayDep, grant: LiveDep
) -> dict[str, Any]:
    """Set how loud the mixer takes a participant's microphone."""
    args = {"participant_id": participant_id, "gain": body.gain}
    return await control(gateway, grant, session_id, "gain", args)


@router.delete("/{participant_id}")
async def remove_participant(
    session_id: str, participant_id: str, gateway: GatewayDep, grant: LiveDep
) -> dict[str, Any]:
    """Remove a participant: it is told, and its connection ends."""
    return await control(gateway, grant, session_id, "remove", {"participant_id": participant_id})
