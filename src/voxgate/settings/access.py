"""Who may do what: keys, JWTs, roles per route, agent and feature, usage and rate limits."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode

Role = Literal["admin", "user", "viewer"]
"""What a user may do, most rights first: ``admin`` everything (users, everyone's runs and
sessions), ``user`` talk and manage their own data, ``viewer`` read their history only."""
ROLES: tuple[Role, ...] = get_args(Role)
RouteGroup = Literal["live", "history", "runs", "docs", "users"]
"""Routes that share a rule (``route_roles``): ``live`` sessions and the keys that open them,
``history`` read, ``runs`` (``/api/runs``), ``docs`` (``/docs``, ``/openapi.json``), ``users``
(the admin API)."""
Feature = Literal["live_voice", "webrtc", "direct_mode", "record_and_send"]
"""What a deployment may turn off, or keep from some roles (``feature_roles``)."""


class UsageLimit(BaseModel):
    """What one user of a role may use (``usage_limits``); a limit left out: none."""

    minutes_per_day: float | None = Field(None, gt=0)
    minutes_per_month: float | None = Field(None, gt=0)
    concurrent_sessions: int | None = Field(None, ge=1)


class AccessSettings(BaseSettings):
    """Credentials, roles and the limits on what a caller may use."""

    api_keys: Annotated[list[str], NoDecode] = Field(
        [],
        description="API keys, comma-separated: when set, every route but `/healthz` and the "
        "page (`/`, `/static`) needs one (or an ephemeral `ek_` key for its own session). None "
        "set: open, for a single local user (any bearer is accepted).",
    )
    auth_required: bool = Field(
        False,
        description="Require a credential on every route but `/healthz` and the page. It is "
        "also required whenever users exist (`voxgate users add`), `api_keys` are set or a JWT "
        "issuer is configured; otherwise the server is open, for a single local user.",
    )
    jwt_secret: str | None = Field(
        None,
        min_length=32,
        description="Accept JWTs signed HS256 with this shared secret (32 characters or more) "
        "as `Authorization: Bearer`: `sub` names the user, `jwt_role_claim` the role, `exp` is "
        "required.",
    )
    jwt_jwks_url: str | None = Field(
        None,
        description="Accept JWTs signed RS256 or ES256 by a key of this JWKS document (your "
        "identity provider's `jwks_uri`; fetched and cached).",
    )
    jwt_audience: str | None = Field(None, description="The `aud` a JWT must name, if set.")
    jwt_issuer: str | None = Field(None, description="The `iss` a JWT must name, if set.")
    jwt_role_claim: str = Field(
        "role",
        description="The JWT claim holding the role (`a.b` for a nested one; a list: its "
        "highest role among admin, user, viewer).",
    )
    jwt_default_role: Role | None = Field(
        "user", description="The role of a JWT without the role claim; empty: refuse it."
    )
    route_roles: dict[RouteGroup, list[Role]] = Field(
        default_factory=dict,
        description='Roles allowed per route group, JSON, e.g. {"runs": ["admin"]}; groups not '
        "named keep their defaults: live admin, user; history admin, user, viewer; runs admin, "
        "user; docs admin, user; users admin. An admin is always allowed.",
    )
    agent_roles: dict[str, list[Role]] = Field(
        default_factory=dict,
        description="Roles that may start a session with an agent (or a run of a runner), "
        'JSON, e.g. {"billing_agent": ["admin"]}; agents not named: anyone with `live`.',
    )
    feature_roles: dict[Feature, list[Role]] = Field(
        default_factory=dict,
        description='Roles that may use a feature, JSON, e.g. {"webrtc": ["admin", "user"]}: '
        "live_voice, webrtc, direct_mode, record_and_send. Features not named: every role the "
        "routes allow. For the others the feature's routes answer 404 and the page hides it.",
    )
    usage_limits: dict[Role, UsageLimit] = Field(
        default_factory=dict,
        description="Limits per user of a role, JSON, e.g. "
        '{"user": {"minutes_per_day": 30, "minutes_per_month": 300, "concurrent_sessions": 2}}: '
        "checked when a session starts (429 `usage_limit_reached`) and while it runs (a spoken "
        "notice, `voxgate.usage.limit_reached`, then the session ends). Roles not named: none.",
    )
    live_voice_enabled: bool = Field(
        True,
        description="Live voice over WebSockets (`/ws`, `/v1/realtime`); off: they answer "
        "404 (closed 1008 for `/ws`) and the page offers only what is left.",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        [
            "http://localhost:*",
            "http://127.0.0.1:*",
            "http://[::1]:*",
            "https://localhost:*",
            "https://127.0.0.1:*",
            "https://[::1]:*",
        ],
        description="Browser origins (`Origin` header) allowed on WebSockets and API routes, "
        "comma-separated, besides the server's own host; `:*` is any port, `*` any origin. "
        "Requests without an `Origin` (non-browser clients) are not affected.",
    )
    sessions_per_minute: int = Field(
        60, ge=0, description="New sessions a client address may open a minute; 0: no limit."
    )
    offers_per_minute: int = Field(
        30, ge=0, description="WebRTC offers a client address may make a minute; 0: no limit."
    )
    client_secrets_per_minute: int = Field(
        60, ge=0, description="Client secrets a client address may mint a minute; 0: no limit."
    )
    rate_limit_key_factor: int = Field(
        10,
        ge=1,
        description="A key's limits, as a multiple of an address's (one key may serve a "
        "backend's many users).",
    )
    rate_limit_exempt_addresses: Annotated[list[str], NoDecode] = Field(
        ["127.0.0.1", "::1"],
        description="Client addresses without a per-address limit (per-key limits still apply), "
        "comma-separated. Behind a reverse proxy, let uvicorn see the caller's address "
        "(`X-Forwarded-For`) or empty this list.",
    )
    client_secret_ttl_s: int = Field(
        600, ge=10, le=7200, description="Default lifetime of an ephemeral `ek_` client secret."
    )

    @field_validator("api_keys", "allowed_origins", "rate_limit_exempt_addresses", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("jwt_default_role", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value
