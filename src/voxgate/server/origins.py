"""The ``Origin`` allow-list: which web pages may open WebSockets and call the API from a browser.

A browser names the page's origin on every WebSocket and on cross-site or non-GET requests; a
page elsewhere must not drive a user's local voxgate (its microphone session, its keys). Allowed:
the server's own host (``Origin`` host equals ``Host``), and ``settings.allowed_origins``
(default: localhost and 127.0.0.1 on any port). A request without ``Origin`` is not a browser's
cross-site request and passes. The page itself (``/``, ``/static``) and ``/healthz`` are served
to anyone. Refused: HTTP 403, or a WebSocket closed with 1008 and the reason.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from voxgate.server.auth import APIError, refuse_websocket
from voxgate.settings import Settings


def _split(origin: str) -> tuple[str, str, str | None] | None:
    """``(scheme, host, port or None)`` of ``scheme://host[:port]``; None if it is not one."""
    scheme, sep, rest = origin.strip().rstrip("/").lower().partition("://")
    if not sep or not rest or "/" in rest:
        return None
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            return None
        host, after = rest[: end + 1], rest[end + 1 :]
    else:
        host, _, port = rest.partition(":")
        after = f":{port}" if port else ""
    if after and not after.startswith(":"):
        return None
    return scheme, host, after[1:] or None


class OriginPolicy:
    """Whether an ``Origin`` may use this server."""

    def __init__(self, allowed: list[str]) -> None:
        self.any = "*" in allowed
        self.allowed = [p for p in (_split(a) for a in allowed if a != "*") if p is not None]

    def allows(self, origin: str, host: str | None) -> bool:
        """``origin`` is the server's own host or on the list."""
        parts = _split(origin)
        if parts is None:
            return self.any and origin != "null"
        scheme, name, port = parts
        netloc = f"{name}:{port}" if port else name
        if host is not None and netloc == host.strip().lower():
            return True
        if self.any:
            return True
        return any((s, n) == (scheme, name) and (p == "*" or p == port) for s, n, p in self.allowed)


def _public(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    readonly = scope.get("method") in ("GET", "HEAD")
    return readonly and (path in ("/", "/healthz") or path.startswith("/static/"))


class OriginMiddleware:
    """ASGI middleware: refuse requests and WebSockets from origins not allowed."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.policy = OriginPolicy(settings.allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None or _public(scope) or self.policy.allows(origin, headers.get("host")):
            await self.app(scope, receive, send)
            return
        refused = APIError(
            403,
            f"origin {origin[:60]!r} is not allowed (VOXGATE_ALLOWED_ORIGINS)",
            code="origin_not_allowed",
        )
        if scope["type"] == "http":
            await refused.response()(scope, receive, send)
        else:
            await refuse_websocket(WebSocket(scope, receive, send), refused)
