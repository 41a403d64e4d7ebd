"""JWTs from an identity provider (PyJWT): HS256 with a shared secret, RS256 / ES256 by JWKS.

A token names its user (``sub``) and, in ``jwt_role_claim``, its role; ``exp`` is required and
checked, ``aud`` and ``iss`` when configured. The JWKS document is fetched by PyJWT's
``PyJWKClient`` (in a worker thread: it blocks) and cached by it; a token checked once is
remembered until it expires or for ``CACHE_S``, whichever is sooner. Every refusal is an
``APIError`` saying what to fix.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jwt

from voxgate.server.auth import APIError
from voxgate.settings import ROLES, Settings

JWKS_ALGORITHMS = ("RS256", "ES256")
CACHE_S = 60.0
MAX_CACHED = 10_000


def looks_like_jwt(credential: str) -> bool:
    """Three dot-separated parts (a key never has dots)."""
    return credential.count(".") == 2


def _refused(message: str, code: str = "invalid_token") -> APIError:
    return APIError(401, message, code=code)


class TokenVerifier:
    """Checks JWTs against the configured secret or JWKS (``from_settings``: None if none)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.secret = settings.jwt_secret
        self.jwks_url = settings.jwt_jwks_url
        self.jwks = (
            jwt.PyJWKClient(self.jwks_url, cache_keys=True, timeout=5) if self.jwks_url else None
        )
        self.audience = settings.jwt_audience
        self.issuer = settings.jwt_issuer
        self.role_claim = settings.jwt_role_claim
        self.default_role = settings.jwt_default_role
        self.clock = clock
        self._checked: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier | None:
        """A verifier when the settings name a secret or a JWKS URL."""
        return cls(settings) if settings.jwt_secret or settings.jwt_jwks_url else None

    async def claims(self, token: str) -> dict[str, Any]:
        """The token's verified claims, or a 401 saying what is wrong with it."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = self.clock()
        kept = self._checked.get(digest)
        if kept is not None and kept[0] > now:
            return kept[1]
        claims = await self._verify(token)
        until = min(float(claims["exp"]), now + CACHE_S)
        self._checked[digest] = (until, claims)
        while len(self._checked) > MAX_CACHED:
            self._checked.popitem(last=False)
        return claims

    def role(self, claims: dict[str, Any]) -> str:
        """The role the token's claim names (a list: its highest role), or the default."""
        value: Any = claims
        for part in self.role_claim.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        named = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        for role in ROLES:
            if role in named:
                return role
        if self.default_role is not None and value is None:
            return self.default_role
        raise APIError(
            403,
            f"the token's {self.role_claim!r} claim must name a role (one of "
            f"{', '.join(ROLES)}); it holds {value!r}",
            code="invalid_role",
        )

    async def _verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise _refused(f"the bearer token is not a well-formed JWT: {exc}") from None
        alg = header.get("alg")
        key: Any
        if alg == "HS256" and self.secret:
            key, algorithms = self.secret, ["HS256"]
        elif alg in JWKS_ALGORITHMS and self.jwks is not None:
            key, algorithms = await self._signing_key(token), list(JWKS_ALGORITHMS)
        else:
            accepted = [
                *(["HS256"] if self.secret else []),
                *(JWKS_ALGORITHMS if self.jwks else []),
            ]
            signed = f"signed {alg!r}" if alg else "names no 'alg'"
            raise _refused(f"the token {signed}; this server accepts {', '.join(accepted)}")
        try:
            return jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "sub"], "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise _refused(
                "the token has expired (exp): get a new one from your identity provider",
                "token_expired",
            ) from None
        except jwt.InvalidSignatureError:
            raise _refused(
                "the token's signature does not verify: it was not signed with this server's "
                "secret or its issuer's keys"
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise _refused(f"the token has no {exc.claim!r} claim; it needs exp and sub") from None
        except jwt.InvalidAudienceError:
            raise _refused(
                f"the token is not for this server: its aud must name {self.audience!r}"
            ) from None
        except jwt.InvalidIssuerError:
            raise _refused(f"the token's iss must be {self.issuer!r}") from None
        except jwt.InvalidTokenError as exc:
            raise _refused(f"the token is not valid: {exc}") from None

    async def _signing_key(self, token: str) -> Any:
        assert self.jwks is not None
        try:
            signing = await asyncio.to_thread(self.jwks.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError as exc:
            raise APIError(
                503,
                f"the identity provider's keys could not be fetched from {self.jwks_url}: {exc}",
                code="jwks_unavailable",
                type_="server_error",
            ) from None
        except (jwt.PyJWKClientError, jwt.DecodeError) as exc:
            raise _refused(
                f"the token's signing key is not among the issuer's keys: {exc}"
            ) from None
        return signing.key
