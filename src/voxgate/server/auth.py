"""Who may use the server: configured API keys and ephemeral ``ek_`` secrets.

A request carries its key as ``Authorization: Bearer <key>``; a browser WebSocket, which cannot
set headers, offers it as the subprotocol ``openai-insecure-api-key.<key>`` as it does with
OpenAI. A key never goes in a URL. With no ``api_keys`` configured, any bearer key is accepted
(the single-user local default) — except an ``ek_`` key, which is always checked, because it
carries its session and that session's configuration.

An API key opens everything. An ephemeral key opens one session, the one it was minted for
(``ClientSecret.session_id``): ``server/access.py`` holds that rule, ``server/scope.py`` what
its holder may change of the minted configuration.

For a route: ``grant: GrantDep`` / ``AdminDep`` (``server/access.py``); anywhere else:
``gateway.authenticate(conn)``.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket, WebSocketState

from voxgate.affinity import pinned
from voxgate.protocol import Event

CLIENT_SECRET_PREFIX = "ek_"
MAX_CLIENT_SECRETS = 100_000
"""Unexpired ephemeral keys kept; past it the oldest is revoked (memory stays bounded)."""
INSECURE_KEY_PROTOCOL = "openai-insecure-api-key."


class APIError(Exception):
    """An HTTP error in OpenAI's shape: ``{"error": {"message", "type", "code", "param"}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.type = type_
        self.param = param
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        """The HTTP response that reports this."""
        body = {"message": str(self), "type": self.type, "code": self.code, "param": self.param}
        return JSONResponse({"error": body}, status_code=self.status, headers=self.headers)

    def close_reason(self) -> str:
        """The message as a WebSocket close reason (at most 123 bytes of UTF-8)."""
        return str(self).encode()[:123].decode("utf-8", "ignore")


async def api_error_handler(conn: HTTPConnection, exc: Exception) -> JSONResponse | None:
    """FastAPI exception handler for ``APIError``: an HTTP error, or a refused WebSocket."""
    assert isinstance(exc, APIError)
    if isinstance(conn, WebSocket):
        await refuse_websocket(conn, exc)
        return None
    return exc.response()


async def refuse_websocket(websocket: WebSocket, exc: APIError) -> None:
    """Close the socket with 1008 and the error's message as the reason.

    The socket is accepted first (selecting ``realtime`` if offered), so a browser, which never
    sees an HTTP refusal's status, reads why in the close frame.
    """
    if websocket.client_state == WebSocketState.CONNECTING:
        offered = [
            p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")
        ]
        await websocket.accept(subprotocol="realtime" if "realtime" in offered else None)
    if websocket.client_state == WebSocketState.CONNECTED:
        await websocket.close(code=1008, reason=exc.close_reason())


def key_id(key: str) -> str:
    """A key's stand-in for limits and ownership: keys are never kept as such."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ClientSecret:
    """An ephemeral key: valid until ``expires_at`` (epoch seconds), for one session.

    ``session_id`` is the only session it opens or joins; ``session`` the configuration that
    session starts with, which its holder may narrow but not widen (``server/scope.py``).
    """

    value: str
    expires_at: int
    session: Event
    session_id: str
    user_id: str | None = None
    """The user whose key minted it (its holder acts as that user, on that session only)."""
    role: str = "admin"
    """That user's role."""


@dataclass
class ClientSecrets:
    """The ephemeral keys this process minted (in memory: a restart revokes them all)."""

    clock: Callable[[], float] = time.time
    _secrets: dict[str, ClientSecret] = field(default_factory=dict)

    def mint(
        self,
        session: Event,
        *,
        ttl_s: int,
        session_id: str,
        user_id: str | None = None,
        role: str = "admin",
    ) -> ClientSecret:
        """A new key for session ``session_id`` configured with ``session``, for ``ttl_s`` s."""
        self._purge()
        while len(self._secrets) >= MAX_CLIENT_SECRETS:
            del self._secrets[next(iter(self._secrets))]
        # held by the worker that holds its session (``voxgate serve --workers``)
        value = pinned(lambda: CLIENT_SECRET_PREFIX + secrets.token_urlsafe(24), to=session_id)
        secret = ClientSecret(
            value, int(self.clock()) + ttl_s, session, session_id, user_id=user_id, role=role
        )
        self._secrets[value] = secret
        return secret

    def lookup(self, value: str) -> ClientSecret | None:
        """The unexpired secret with this value, if any."""
        secret = self._secrets.get(value)
        if secret is None or secret.expires_at <= self.clock():
            return None
        return secret

    def _purge(self) -> None:
        now = self.clock()
        for value in [v for v, s in self._secrets.items() if s.expires_at <= now]:
            del self._secrets[value]


@dataclass(frozen=True)
class Grant:
    """What a key allows: ``api_key`` (all), ``client_secret`` (one session), ``open``.

    ``open``: no keys are configured (any bearer key, or none, is let in).
    """

    kind: Literal["api_key", "client_secret", "open"]
    session: Event | None = None
    """The session configuration an ephemeral key carries."""
    session_id: str | None = None
    """The one session an ephemeral key opens."""
    key: str | None = None
    """``key_id`` of the key presented, if any (for per-key limits and session ownership)."""
    user_id: str | None = None
    """The store's user the key belongs to (None: a configured key, or an open server)."""
    role: str = "admin"
    """What the holder may do: ``admin``, ``user`` or ``viewer`` (configured keys and an
    open server act as ``admin``)."""


def bearer_key(conn: HTTPConnection) -> str | None:
    """The key from ``Authorization: Bearer``, or from a browser's insecure-key subprotocol."""
    header = conn.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        return key.strip()
    for protocol in conn.headers.get("sec-websocket-protocol", "").split(","):
        protocol = protocol.strip()
        if protocol.startswith(INSECURE_KEY_PROTOCOL) and len(protocol) > len(
            INSECURE_KEY_PROTOCOL
        ):
            return protocol[len(INSECURE_KEY_PROTOCOL) :]
    return None


def authenticate(
    conn: HTTPConnection, *, api_keys: list[str], client_secrets: ClientSecrets
) -> Grant:
    """Check the connection's key against the configured keys and the minted secrets."""
    key = bearer_key(conn)
    if key is not None and key.startswith(CLIENT_SECRET_PREFIX):
        secret = client_secrets.lookup(key)
        if secret is None:
            raise APIError(
                401,
                "the ephemeral key is unknown or has expired; mint a new one with "
                "POST /v1/realtime/client_secrets",
                code="invalid_api_key",
            )
        return Grant(
            "client_secret",
            session=secret.session,
            session_id=secret.session_id,
            key=key_id(key),
            user_id=secret.user_id,
            role=secret.role,
        )
    if not api_keys:
        return Grant("open", key=key_id(key) if key else None)
    if key is None:
        raise APIError(
            401,
            "missing API key: send 'Authorization: Bearer <key>' (a browser's WebSocket: the "
            "subprotocol openai-insecure-api-key.<key>)",
            code="missing_api_key",
        )
    if not any(secrets.compare_digest(key, allowed) for allowed in api_keys):
        raise APIError(401, "incorrect API key", code="invalid_api_key")
    return Grant("api_key", key=key_id(key))
