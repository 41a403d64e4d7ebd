"""JWTs: HS256 with the shared secret, RS256 / ES256 from a JWKS on 127.0.0.1; the role claim;
every refusal says what is wrong."""

from __future__ import annotations

import jwt
import pytest

from tests.server.jwks import AUDIENCE, SECRET, Issuer, claims_with_defaults, hs256, jwks_server
from tests.server.wire import loopback_settings
from voxgate.server.auth import APIError
from voxgate.server.tokens import TokenVerifier


def verifier(**settings) -> TokenVerifier:
    made = TokenVerifier.from_settings(loopback_settings(**settings))
    assert made is not None
    return made


async def refusal(v: TokenVerifier, token: str) -> APIError:
    with pytest.raises(APIError) as refused:
        await v.claims(token)
    return refused.value


def test_no_secret_and_no_jwks_means_no_verifier():
    assert TokenVerifier.from_settings(loopback_settings()) is None


async def test_hs256_claims_and_refusals():
    v = verifier(jwt_secret=SECRET, jwt_audience=AUDIENCE, jwt_issuer="https://idp")
    good = hs256(sub="eve", role="user", iss="https://idp")
    assert (await v.claims(good))["sub"] == "eve"
    cases = {
        hs256(sub="eve", iss="https://idp", exp=1): "expired",
        hs256(sub="eve", iss="https://other"): "iss must be 'https://idp'",
        hs256(sub="eve", iss="https://idp", aud="x"): "aud must name 'voxgate'",
        hs256(iss="https://idp"): "no 'sub' claim",
        good[:-4] + "AAAA": "signature does not verify",
        "a.b": "not a well-formed JWT",
        "e30.e30.": "names no 'alg'",
        jwt.encode(claims_with_defaults({"sub": "eve"}), None, algorithm="none"): "signed 'none'",
    }
    for token, phrase in cases.items():
        refused = await refusal(v, token)
        assert refused.status == 401 and phrase in str(refused), (token, str(refused))


async def test_the_role_claim_nested_a_list_a_default_or_refused():
    v = verifier(jwt_secret=SECRET, jwt_role_claim="realm.roles")
    assert v.role({"realm": {"roles": ["offline", "viewer", "admin"]}}) == "admin"
    assert v.role({"realm": {"roles": "viewer"}}) == "viewer"
    assert v.role({"sub": "x"}) == "user"  # jwt_default_role
    with pytest.raises(APIError, match="must name a role") as refused:
        v.role({"realm": {"roles": ["offline"]}})
    assert refused.value.status == 403
    strict = verifier(jwt_secret=SECRET, jwt_default_role=None)
    with pytest.raises(APIError, match="'role' claim must name a role"):
        strict.role({"sub": "x"})


async def test_jwks_rs256_and_es256_fetched_once_and_unknown_keys_refused():
    issuer = Issuer()
    async with jwks_server(issuer) as url:
        v = verifier(jwt_jwks_url=url, jwt_audience=AUDIENCE)
        for alg in ("RS256", "ES256"):
            for n in range(3):
                claims = await v.claims(issuer.token(alg, sub=f"u{n}", role="viewer"))
                assert claims["sub"] == f"u{n}"
        assert issuer.fetches == 1
        stranger = Issuer()  # the same key ids, other keys
        refused = await refusal(v, stranger.token("RS256", sub="x"))
        assert refused.status == 401 and "signature" in str(refused)
        unknown_kid = jwt.encode(
            claims_with_defaults({"sub": "x"}),
            issuer.rsa,
            algorithm="RS256",
            headers={"kid": "nope"},
        )
        refused = await refusal(v, unknown_kid)
        assert refused.status == 401 and "not among the issuer's keys" in str(refused)
        refused = await refusal(v, hs256(sub="x"))  # no secret configured here
        assert "accepts RS256, ES256" in str(refused)


async def test_an_unreachable_jwks_is_the_server_s_problem_not_the_caller_s():
    issuer = Issuer()
    v = verifier(jwt_jwks_url="http://127.0.0.1:9/jwks.json")
    refused = await refusal(v, issuer.token("RS256", sub="x"))
    assert refused.status == 503 and refused.code == "jwks_unavailable"
