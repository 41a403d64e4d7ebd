"""Browser-direct mode: the browser talks to the Realtime service, voxgate holds the key.

``POST /api/realtime/client-secret`` mints an upstream ephemeral key carrying the server's
session configuration (instructions, voice, model), so the provider key never reaches a browser
and the browser cannot choose another configuration. Off unless ``direct_mode_enabled``: then
the mode's endpoints answer 404.
"""

from __future__ import annotations

from typing import Annotated, Any

import openai
from fastapi import APIRouter, Depends, Request

from voxgate.engines.openai.connect import realtime_client
from voxgate.engines.openai.engine import initial_session
from voxgate.server.auth import APIError, Grant, require_key
from voxgate.settings import Settings

router = APIRouter()


def _enabled(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    if not settings.direct_mode_enabled:
        raise APIError(
            404, "browser-direct mode is off (VOXGATE_DIRECT_MODE_ENABLED)", code="not_found"
        )
    return settings


@router.post("/api/realtime/client-secret")
async def mint_client_secret(
    settings: Annotated[Settings, Depends(_enabled)],
    grant: Annotated[Grant, Depends(require_key)],
) -> dict[str, Any]:
    """An upstream ephemeral key for this server's session configuration."""
    if grant.kind == "client_secret":
        raise APIError(
            403, "an ephemeral key cannot mint client secrets", code="insufficient_permissions"
        )
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
