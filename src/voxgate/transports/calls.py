"""The offer of ``POST /v1/realtime/calls`` (OpenAI's WebRTC interface), as either body shape.

The body is the SDP offer (``application/sdp``), or multipart form fields ``sdp`` and ``session``
(a GA session config). The route is the app's (``server/openai_api.py``); the call itself is a
``transports.webrtc.Peer`` with GA events only.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from voxgate.protocol import ProtocolError
from voxgate.wire import WireLimits, loads


async def read_offer(request: Request, limits: WireLimits | None = None) -> tuple[str, Any]:
    """``(sdp, session config or None)`` from either body shape; ``session`` within ``limits``."""
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
                session = loads(session, limits or WireLimits())
            except ProtocolError as exc:
                exc.param = "session"
                raise
        return sdp or "", session
    if content_type in ("application/sdp", "text/plain", ""):
        return (await request.body()).decode("utf-8", "replace"), None
    raise ProtocolError(
        f"unsupported content type {content_type!r}: send application/sdp, or multipart "
        "form fields 'sdp' and 'session'",
        code="unsupported_content_type",
    )
