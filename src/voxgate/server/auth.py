"""Who may use the OpenAI-compatible API: configured API keys and ephemeral ``ek_`` secrets.

A request carries its key as ``Authorization: Bearer <key>``; a browser WebSocket, which cannot
set headers, offers it as the subprotocol ``openai-insecure-api-key.<key>`` as it does with
OpenAI. With no ``api_keys`` configured, any bearer key is accepted (offline development) —
except an ``ek_`` key, which is always checked, because it carries its session configuration.

For a route: ``grant: GrantDep`` (``server/gateway.py``); anywhere else:
``gateway.authenticate(conn)``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection

from voxgate.protocol import Event

CLIENT_SECRET_PREFIX = "ek_"
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
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.type = type_
        self.param = param

    def response(self) -> JSONResponse:
        """The HTTP response that reports this."""
        body = {"message": str(self), "type": self.type, "code": self.code, "param": self.param}
        return JSONResponse({"error": body}, status_code=self.status)


async def api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI exception handler for ``APIError``."""
    assert isinstance(exc, APIError)
    return exc.response()


@dataclass(frozen=True)
class ClientSecret:
    """An ephemeral key: valid until ``expires_at`` (epoch seconds), scoped to ``session``."""

    value: str
    expires_at: int
    session: Event


@dataclass
class ClientSecrets:
    """The ephemeral keys this process minted (in memory: a restart revokes them all)."""

    clock: Callable[[], float] = time.time
    _secrets: dict[str, ClientSecret] = field(default_factory=dict)

    def mint(self, session: Event, *, ttl_s: int) -> ClientSecret:
        """A new key for ``session``, valid for ``ttl_s`` seconds."""
        self._purge()
        value = CLIENT_SECRET_PREFIX + secrets.token_urlsafe(24)
        secret = ClientSecret(value, int(self.clock()) + ttl_s, session)
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
    """What a key allows: ``api_key`` (full), ``client_secret`` (one session config), ``open``."""

    kind: Literal["api_key", "client_secret", "open"]
    session: Event | None = None
    """The session configuration an ephemeral key carries."""


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
        return Grant("client_secret", session=secret.session)
    if not api_keys:
        return Grant("open")
    if key is None:
        raise APIError(
            401, "missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key"
        )
    if not any(secrets.compare_digest(key, allowed) for allowed in api_keys):
        raise APIError(401, "incorrect API key", code="invalid_api_key")
    return Grant("api_key")
