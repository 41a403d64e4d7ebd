"""``POST /v1/realtime/client_secrets``: ephemeral ``ek_`` keys scoped to a session config.

The request and response have OpenAI's shape, so ``client.realtime.client_secrets.create``
works against voxgate. A key opens one session, whose id the response names (``session.id``):
a new, unguessable one, or the one the request names (``session_id``, voxgate's own field: the
web page mints a key for the session it joins). That session starts with the key's
configuration, which its holder may narrow but not widen (``server/scope.py``). voxgate calls
such a key a ticket: it acts as whoever minted it (any credential but a ticket, of a role that
may use live sessions), on its session only, and is the one credential a URL may carry
(``?ticket=`` on a WebSocket). In a cluster every node takes it (``cluster/tickets.py``).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from openai.types.realtime import RealtimeSessionCreateRequest
from pydantic import BaseModel, Field, ValidationError

from voxgate.affinity import new_session_id
from voxgate.protocol import ProtocolError
from voxgate.server.auth import APIError
from voxgate.server.gateway import GatewayDep, MintDep
from voxgate.transports.messages import SESSION_ID
from voxgate.transports.realtime import EdgeAudio
from voxgate.wire import WireLimits, check_texts, loads

router = APIRouter()


class ExpiresAfter(BaseModel):
    """When the key stops admitting new connections (a session already open goes on)."""

    anchor: Literal["created_at"] = "created_at"
    seconds: int = Field(600, ge=10, le=7200)


class ClientSecretRequest(BaseModel):
    """The request body: ``{"expires_after": {...}, "session": {...}}``."""

    expires_after: ExpiresAfter | None = None
    session: dict[str, Any] = Field(default_factory=lambda: {"type": "realtime"})
    session_id: str | None = Field(
        None,
        pattern=SESSION_ID.pattern,
        description="voxgate: the session the key opens (default: a new, unguessable id).",
    )


def _invalid(exc: ValidationError, prefix: str) -> APIError:
    first = exc.errors()[0]
    where = ".".join([prefix, *(str(p) for p in first["loc"])]).strip(".")
    return APIError(400, f"invalid {where}: {first['msg']}", code="invalid_value", param=where)


@router.post("/v1/realtime/client_secrets")
async def create_client_secret(
    request: Request, gateway: GatewayDep, grant: MintDep
) -> dict[str, Any]:
    """Mint an ephemeral key for one session, carrying its configuration."""
    await gateway.limits.client_secrets.take(request, grant)
    limits = WireLimits.from_settings(gateway.settings)
    try:
        body = ClientSecretRequest.model_validate(loads(await request.body(), limits))
    except ProtocolError as exc:
        raise APIError(400, f"the body must be JSON: {exc}", code=exc.code) from None
    except ValidationError as exc:
        raise _invalid(exc, "") from None
    session = body.session
    if session.get("type") != "realtime":
        raise APIError(
            400,
            "only session.type 'realtime' is served (transcription sessions are not)",
            code="invalid_value",
            param="session.type",
        )
    try:
        RealtimeSessionCreateRequest.model_validate(session)
        check_texts({"type": "session.update", "session": session}, limits)
        edge = EdgeAudio()
        effective = edge.to_client(gateway.describe_session(edge.to_engine(session)))
    except ValidationError as exc:
        raise _invalid(exc, "session") from None
    except ProtocolError as exc:
        raise APIError(400, str(exc), code=exc.code, param=exc.param) from None
    session_id = body.session_id or new_session_id()
    gateway.rights.check(grant, session_id, gateway.registry.get(session_id))
    await gateway.check_conversation(grant, session_id)
    settings = gateway.settings
    ttl = body.expires_after.seconds if body.expires_after else settings.client_secret_ttl_s
    secret = gateway.client_secrets.mint(
        session,
        ttl_s=ttl,
        session_id=session_id,
        user_id=grant.user_id,
        role=grant.role,
        minted_by=grant,
    )
    if gateway.tickets is not None:  # a cluster's other nodes take it too
        await gateway.tickets.put(secret)
    return {
        "value": secret.value,
        "expires_at": secret.expires_at,
        "session": {**effective, "id": session_id, "expires_at": secret.expires_at},
    }
