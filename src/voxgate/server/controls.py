"""A host's controls of a live session, wherever it lives: list, mute, gain, remove, end, hang up.

The participants API (``server/participants.py``), ``DELETE /api/sessions/{session_id}`` (end a
session: every client gets an ``error`` and ``voxgate.session.ended`` with code
``ended_by_host``, and its connection closes) and a call's hangup run their action with
``control``: here when the session is live here; in a cluster, when another node holds it, the
command goes to that node's control channel with the caller's grant (``ClusterNode.forward``),
that node checks the caller's right to the session and runs it (``on_command``), and its answer
— the body, or the error with its status — is this route's. No node answering in time: 504.
No node holding the session: 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Literal

from fastapi import APIRouter

from voxgate.server.auth import APIError, Grant, grant_from_wire, grant_to_wire
from voxgate.server.cluster import Command
from voxgate.server.gateway import Gateway, GatewayDep, LiveDep
from voxgate.session import Participant, Session

log = logging.getLogger(__name__)

Action = Literal["list", "mute", "gain", "remove", "end", "hangup"]
ACTIONS: tuple[Action, ...] = ("list", "mute", "gain", "remove", "end", "hangup")
END_WAIT_S = 5.0
"""How long ending a session waits for its clients to have been told before it answers."""

router = APIRouter(tags=["participants"])


@router.delete("/api/sessions/{session_id}")
async def end_session(session_id: str, gateway: GatewayDep, grant: LiveDep) -> dict[str, Any]:
    """End a live session: its clients are told (``ended_by_host``) and disconnected."""
    return await control(gateway, grant, session_id, "end")


async def control(
    gateway: Gateway,
    grant: Grant,
    session_id: str,
    action: Action,
    args: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``action`` on live session ``session_id``, here or on the node that holds it."""
    args = args or {}
    if gateway.registry.get(session_id) is None and gateway.cluster is not None:
        node = await gateway.cluster.elsewhere(session_id)
        if node is not None:
            command = {
                "op": "control",
                "action": action,
                "session_id": session_id,
                "args": args,
                "grant": grant_to_wire(grant),
            }
            return _answer(await gateway.cluster.forward(node, command))
    return await apply(gateway, grant, session_id, action, args)


async def on_command(gateway: Gateway, command: Command) -> Command:
    """Run a command another node forwarded; its answer: ``{"status", "body"|"error"}``."""
    try:
        action = command["action"]
        if action not in ACTIONS:
            raise APIError(400, f"unknown action {action!r}", code="invalid_value")
        grant = grant_from_wire(command["grant"])
        body = await apply(gateway, grant, str(command["session_id"]), action, command["args"])
    except APIError as exc:
        return {"status": exc.status, "error": exc.body()}
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("cluster: a malformed control command: %r", exc)
        return {"status": 400, "error": APIError(400, str(exc), code="invalid_value").body()}
    return {"status": 200, "body": body}


def _answer(reply: Command) -> dict[str, Any]:
    """The holder's answer as this node's: its body, or its error raised."""
    if reply.get("status") == 200 and isinstance(reply.get("body"), dict):
        return dict(reply["body"])
    error = reply.get("error") or {}
    raise APIError(
        int(reply.get("status") or 502),
        str(error.get("message") or "the node holding the session failed the command"),
        code=str(error.get("code") or "node_error"),
        type_=str(error.get("type") or "server_error"),
        param=error.get("param"),
    )


async def apply(
    gateway: Gateway, grant: Grant, session_id: str, action: Action, args: dict[str, Any]
) -> dict[str, Any]:
    """Run ``action`` on session ``session_id``, live here (``APIError`` 403 / 404)."""
    if action == "hangup":
        return await _hang_up(gateway, grant, session_id)
    session = live_session(gateway, grant, session_id)
    if action == "list":
        return {"session_id": session.id, "participants": session.roster.describe_all()}
    if action == "end":
        gateway.spawn(session.end("ended_by_host", "the session was ended by its host"))
        with contextlib.suppress(TimeoutError):  # told and closing; its summary is not awaited
            await asyncio.wait_for(session.ended.wait(), END_WAIT_S)
        return {"session_id": session.id, "ended": True}
    participant_id = str(args["participant_id"])
    if action == "mute":
        return _found(session, session.roster.mute(participant_id, bool(args["muted"])), args)
    if action == "gain":
        return _found(session, session.roster.set_gain(participant_id, float(args["gain"])), args)
    who = session.members.get(participant_id)  # remove
    if who is None:
        raise _unknown(session, participant_id)
    described = session.roster.describe(who)
    await session.remove(participant_id)
    return {**described, "removed": True}


def live_session(gateway: Gateway, grant: Grant, session_id: str) -> Session:
    """Session ``session_id``, live here, if ``grant`` has the right to it (403, 404)."""
    live = gateway.registry.get(session_id)
    gateway.rights.check(grant, session_id, live)
    if live is None:
        raise APIError(
            404,
            f"no live session {session_id!r}: it ended, or never started",
            code="session_not_found",
        )
    return live


async def _hang_up(gateway: Gateway, grant: Grant, call_id: str) -> dict[str, Any]:
    gateway.rights.check(grant, call_id, gateway.registry.get(call_id))
    found = gateway.peers.in_session(call_id)
    if not found:
        raise APIError(404, f"no call {call_id!r}", code="call_not_found")
    for peer in found:
        await peer.close(reason="hung up")
    # the session's end (its summary) is not the caller's to wait for
    gateway.spawn(gateway.registry.release(found[0].session, grace=False))
    return {"call_id": call_id, "hung_up": True}


def _unknown(session: Session, participant_id: str) -> APIError:
    present = ", ".join(session.members) or "none"
    return APIError(
        404,
        f"no participant {participant_id!r} in session {session.id!r} (present: {present})",
        code="participant_not_found",
        param="participant_id",
    )


def _found(session: Session, who: Participant | None, args: dict[str, Any]) -> dict[str, Any]:
    if who is None:
        raise _unknown(session, str(args["participant_id"]))
    return session.roster.describe(who)
