"""An identity provider for the tests: an RS256 and an ES256 key, their JWKS served on
127.0.0.1, and tokens signed with them (or with a shared HS256 secret)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI

from tests.conftest import serve_app

SECRET = "an-hs256-secret-of-at-least-32-characters"
AUDIENCE = "voxgate"


class Issuer:
    """Two signing keys (RS256 ``rsa-1``, ES256 ``ec-1``) and the JWKS document with both."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.fetches = 0

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, alg, key in (("rsa-1", "RS256", self.rsa), ("ec-1", "ES256", self.ec)):
            jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})
        return {"keys": keys}

    def token(self, alg: str = "RS256", **claims: Any) -> str:
        """A token signed with the issuer's key for ``alg`` (``kid`` in its header)."""
        key, kid = (self.rsa, "rsa-1") if alg == "RS256" else (self.ec, "ec-1")
        return jwt.encode(claims_with_defaults(claims), key, algorithm=alg, headers={"kid": kid})


def claims_with_defaults(claims: dict[str, Any]) -> dict[str, Any]:
    """``exp`` an hour ahead and ``aud`` this server's, unless given (None drops one)."""
    full = {"exp": int(time.time()) + 3600, "aud": AUDIENCE, **claims}
    return {k: v for k, v in full.items() if v is not None}


def hs256(**claims: Any) -> str:
    """A token signed with the shared secret."""
    return jwt.encode(claims_with_defaults(claims), SECRET, algorithm="HS256")


@asynccontextmanager
async def jwks_server(issuer: Issuer) -> AsyncIterator[str]:
    """The issuer's JWKS at ``http://127.0.0.1:<port>/jwks.json`` while the block runs."""
    app = FastAPI()

    @app.get("/jwks.json")
    async def jwks() -> dict[str, Any]:
        issuer.fetches += 1
        return issuer.jwks()

    async with serve_app(app) as port:
        yield f"http://127.0.0.1:{port}/jwks.json"
