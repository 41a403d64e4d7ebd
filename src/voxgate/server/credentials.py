"""Checking a credential: whose it is and with which role, or a refusal that says what to fix.

The server is **open** (any bearer, or none, is let in as ``admin``: the single-user local
default, bound to 127.0.0.1) unless a credential is required: ``auth_required``, configured
``api_keys``, a JWT issuer, or users in the store (seen within the store's cache time when
another process adds the first). A ticket (``ek_``) is always checked. When required:

- a configured API key is an ``admin`` with no user;
- a store ``vg_`` key is its user, with the user's role (a revoked key: 401; a disabled user:
  403);
- a JWT is the user its ``sub`` names, kept in the store as ``jwt_<hash of sub>``, with the
  token's role (``server/tokens.py``);
- a ticket is whoever minted it, for its session only, as long as the key that minted it is not
  revoked and its user not disabled.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import HTTPConnection

from voxgate.server.auth import (
    CLIENT_SECRET_PREFIX,
    APIError,
    ClientSecret,
    ClientSecrets,
    Grant,
    credential,
    key_id,
)
from voxgate.server.tokens import TokenVerifier, looks_like_jwt
from voxgate.settings import Settings
from voxgate.store.users import KEY_PREFIX, KeyOwner, UserError, UserInfo, Users

log = logging.getLogger(__name__)
INCORRECT = "incorrect API key: not a key or token of this server (an admin issues keys)"
MISSING = (
    "missing API key: send 'Authorization: Bearer <key>' (a browser WebSocket: ?ticket=ek_... "
    "or the insecure-key subprotocol)"
)


def disabled(user: UserInfo) -> APIError:
    """The 403 for a disabled user's credential."""
    return APIError(
        403,
        f"user {user.name!r} is disabled: an admin may enable it (voxgate users enable "
        f"{user.name}, or PATCH /api/users/{{id}})",
        code="user_disabled",
    )


class Authenticator:
    """The server's credentials: configured keys, the store's users, JWTs and tickets."""

    def __init__(self, settings: Settings, client_secrets: ClientSecrets) -> None:
        self.settings = settings
        self.client_secrets = client_secrets
        self.shared_tickets: Callable[[str], Awaitable[ClientSecret | None]] | None = None
        """Looks up a ticket another node minted (cluster mode: ``cluster/tickets.py``)."""
        self.tokens = TokenVerifier.from_settings(settings)
        self.users: Users | None = None
        """The store's users, once the database is open (``Gateway.open_store``)."""

    async def required(self) -> bool:
        """Whether every route but the page and ``/healthz`` needs a credential."""
        s = self.settings
        if s.auth_required or s.api_keys or self.tokens is not None:
            return True
        return await self.users_exist()

    async def users_exist(self) -> bool:
        """Whether the store has users (False before it is open)."""
        return self.users is not None and await self.users.has_users()

    async def authenticate(self, conn: HTTPConnection) -> Grant:
        """The connection's grant, or an ``APIError`` (401 / 403) saying what to fix.

        A store that cannot answer is a 503 (the server's problem, not the caller's).
        """
        try:
            return await self._authenticate(conn)
        except SQLAlchemyError as exc:
            log.error("the store could not check a credential: %s", exc)
            raise APIError(
                503,
                "the server's store is unreachable: try again shortly",
                code="store_unavailable",
                type_="server_error",
            ) from None

    async def _authenticate(self, conn: HTTPConnection) -> Grant:
        key = credential(conn)
        if key is not None and key.startswith(CLIENT_SECRET_PREFIX):
            return await self._ticket(key)
        if not await self.required() and not await self._known_user_key(key):
            return Grant("open", key=key_id(key) if key else None)
        if key is None:
            raise APIError(401, MISSING, code="missing_api_key")
        presented = key.encode()
        if any(secrets.compare_digest(presented, k.encode()) for k in self.settings.api_keys):
            return Grant("api_key", key=key_id(key))
        if key.startswith(KEY_PREFIX) and self.users is not None:
            owner = await self.users.lookup(key)
            return _user_key(key, owner)
        if self.tokens is not None and looks_like_jwt(key):
            return await self._jwt(key)
        raise APIError(401, INCORRECT, code="invalid_api_key")

    async def _known_user_key(self, key: str | None) -> bool:
        """A store key on a server that thought itself open (its cache says no users).

        Another process has just added its user (``voxgate users add``): no longer open.
        """
        if key is None or not key.startswith(KEY_PREFIX) or self.users is None:
            return False
        return await self.users.lookup(key) is not None

    async def _ticket(self, key: str) -> Grant:
        secret = self.client_secrets.lookup(key)
        if secret is None and self.shared_tickets is not None:
            secret = await self.shared_tickets(key)
        if secret is None:
            raise APIError(
                401,
                "the ticket (ephemeral key) is unknown or has expired; mint a new one with "
                "POST /v1/realtime/client_secrets",
                code="invalid_api_key",
            )
        minter = secret.minted_by
        if minter is not None and minter.user_id is not None and self.users is not None:
            minter = await self._still_valid(minter)
        return Grant(
            "client_secret",
            session=secret.session,
            session_id=secret.session_id,
            key=key_id(key),
            user_id=secret.user_id,
            role=minter.role if minter is not None else secret.role,
            minted_by=minter,
        )

    async def _still_valid(self, minter: Grant) -> Grant:
        """A ticket's minter as it stands now: its key unrevoked, its user enabled, its role."""
        assert self.users is not None and minter.user_id is not None
        if minter.kind == "api_key" and minter.key is not None:
            owner = await self.users.lookup_hash(minter.key)
            if owner is None or owner.revoked:
                raise APIError(
                    401,
                    "the key that minted this ticket was revoked; mint a new ticket with a "
                    "current key",
                    code="key_revoked",
                )
            user: UserInfo | None = owner.user
        else:
            user = await self.users.user(minter.user_id)
        if user is None:
            raise APIError(401, "the user who minted this ticket is gone", code="invalid_api_key")
        if user.disabled:
            raise disabled(user)
        return replace(minter, role=user.role) if minter.kind == "api_key" else minter

    async def _jwt(self, token: str) -> Grant:
        assert self.tokens is not None
        claims = await self.tokens.claims(token)
        role = self.tokens.role(claims)
        subject = str(claims["sub"])
        user_id = "jwt_" + hashlib.sha256(subject.encode()).hexdigest()[:32]
        if self.users is not None:
            try:
                user = await self.users.ensure(user_id, "jwt:" + subject[:196], role)
            except UserError as exc:
                raise APIError(403, str(exc), code="invalid_user") from None
            if user.disabled:
                raise disabled(user)
        return Grant("jwt", key=key_id(token), user_id=user_id, role=role)


def _user_key(key: str, owner: KeyOwner | None) -> Grant:
    if owner is None:
        raise APIError(401, INCORRECT, code="invalid_api_key")
    if owner.revoked:
        raise APIError(
            401,
            "this API key was revoked (rotated): use the user's newest key (an admin: voxgate "
            f"users rotate {owner.user.name})",
            code="key_revoked",
        )
    if owner.user.disabled:
        raise disabled(owner.user)
    return Grant("api_key", key=key_id(key), user_id=owner.user.id, role=owner.user.role)
