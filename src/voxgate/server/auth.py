"""Credentials, as a request carries them, and what they grant.

A request carries its credential as ``Authorization: Bearer <key>``; a browser WebSocket, which
cannot set headers, offers it as the subprotocol ``openai-insecure-api-key.<key>`` as it does
with OpenAI, or names a ticket in the URL (``?ticket=ek_...``). Only a ticket may go in a URL: a
long-lived key there is refused (URLs end up in logs and histories).

A credential is a configured API key, a store user's ``vg_`` key, a JWT, or a ticket: an
ephemeral ``ek_`` key minted by one of those (``ClientSecrets``), bound to one session and
carrying its minter's user and role. ``server/credentials.py`` checks them and says when the
server is open; ``server/access.py`` holds who may join which session, ``server/policy.py``
what each role may use, ``server/scope.py`` what a ticket's holder may change of the minted
configuration.

For a route: ``grant: GrantDep`` and the role-aware dependencies of ``server/gateway.py``;
anywhere else: ``await gateway.authenticate(conn)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

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
    """An HTTP error in OpenAI's shape: ``{"error": {"message", "type", "code", "param"}}``.

    On a WebSocket it closes the connection with ``close_code``.
    """

    close_code = 1008

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

    def body(self) -> dict[str, Any]:
        """The ``error`` object."""
        return {"message": str(self), "type": self.type, "code": self.code, "param": self.param}

    def response(self) -> JSONResponse:
        """The HTTP response that reports this."""
        return JSONResponse({"error": self.body()}, status_code=self.status, headers=self.headers)

    def close_event(self) -> Event | None:
        """An ``error`` event a WebSocket gets before it is closed (None: the close says it)."""
        return None

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
    """Close the socket with the error's code (1008) and its message as the reason.

    The socket is accepted first (selecting ``realtime`` if offered), so a browser, which never
    sees an HTTP refusal's status, reads why in the close frame.
    """
    if websocket.client_state == WebSocketState.CONNECTING:
        offered = [
            p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")
        ]
        await websocket.accept(subprotocol="realtime" if "realtime" in offered else None)
    if websocket.client_state == WebSocketState.CONNECTED:
        if (ev := exc.close_event()) is not None:
            await websocket.send_json(ev)
        await websocket.close(code=exc.close_code, reason=exc.close_reason())


def key_id(key: str) -> str:
    """A key's stand-in for limits and ownership (its SHA-256, as the store keeps it)."""
    return hashlib.sha256(key.encode()).hexdigest()


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
    minted_by: Grant | None = None
    """The grant that minted it: the ticket acts as that, on its session only."""


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
        minted_by: Grant | None = None,
    ) -> ClientSecret:
        """A new key for session ``session_id`` configured with ``session``, for ``ttl_s`` s."""
        self._purge()
        while len(self._secrets) >= MAX_CLIENT_SECRETS:
            del self._secrets[next(iter(self._secrets))]
        # held by the worker that holds its session (``voxgate serve --workers``)
        value = pinned(lambda: CLIENT_SECRET_PREFIX + secrets.token_urlsafe(24), to=session_id)
        secret = ClientSecret(
            value,
            int(self.clock()) + ttl_s,
            session,
            session_id,
            user_id=user_id,
            role=role,
            minted_by=minted_by,
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
    """What a credential allows, and whose it is.

    ``kind``: ``api_key`` (a configured key, or a store user's), ``jwt``, ``client_secret`` (a
    ticket: one session), ``open`` (no credential needed: the single-user local default).
    """

    kind: Literal["api_key", "jwt", "client_secret", "open"]
    session: Event | None = None
    """The session configuration a ticket carries."""
    session_id: str | None = None
    """The one session a ticket opens."""
    key: str | None = None
    """``key_id`` of the credential presented, if any (per-key limits, session ownership)."""
    user_id: str | None = None
    """The store's user (None: a configured key, or an open server)."""
    role: str = "admin"
    """What the holder may do: ``admin``, ``user`` or ``viewer`` (configured keys and an
    open server act as ``admin``)."""
    minted_by: Grant | None = None
    """A ticket's minter (None: not a ticket)."""

    @property
    def caller(self) -> str | None:
        """Who to count for per-caller limits: the user, else the key (None: no key at all).

        A ticket counts as its minter, if that had a key.
        """
        if self.minted_by is not None and self.minted_by.caller is not None:
            return self.minted_by.caller
        if self.user_id is not None:
            return "user:" + self.user_id
        return "key:" + self.key if self.key is not None else None

    @property
    def ticket(self) -> bool:
        """A ticket: bound to its session, never enough to mint keys or manage anything."""
        return self.kind == "client_secret"


def grant_to_wire(grant: Grant) -> dict[str, Any]:
    """A grant as JSON, for the node that holds the session (no ticket configuration in it)."""
    data = dataclasses.asdict(grant)
    data["session"] = None
    if grant.minted_by is not None:
        data["minted_by"] = grant_to_wire(grant.minted_by)
    return data


def grant_from_wire(data: dict[str, Any]) -> Grant:
    """A grant ``grant_to_wire`` wrote."""
    fields = {f.name for f in dataclasses.fields(Grant)}
    values = {k: v for k, v in data.items() if k in fields}
    minted_by = values.get("minted_by")
    values["minted_by"] = grant_from_wire(minted_by) if isinstance(minted_by, dict) else None
    return Grant(**values)


def credential(conn: HTTPConnection) -> str | None:
    """The credential from ``Authorization: Bearer``, the subprotocol, or ``?ticket=``.

    ``?ticket=`` is read on a WebSocket only, and a long-lived key there is refused (401).
    """
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
    ticket = conn.query_params.get("ticket") if conn.scope["type"] == "websocket" else None
    if ticket:
        if not ticket.startswith(CLIENT_SECRET_PREFIX):
            raise APIError(
                401,
                "a long-lived key never goes in a URL: mint a ticket (POST "
                "/v1/realtime/client_secrets) and pass ?ticket=ek_...",
                code="key_in_url",
                param="ticket",
            )
        return ticket
    return None
