"""What each role may use: route groups, agents, features (from the settings).

Three roles, most rights first: ``admin`` (everything: users, everyone's sessions and runs),
``user`` (talks, manages their own data), ``viewer`` (reads their own history; opens no live
session). ``route_roles`` narrows or widens a route group, ``agent_roles`` who may start a
session with an agent (or a run of a runner), ``feature_roles`` who may use a feature; an admin
is always allowed. A feature the deployment turns off (``live_voice_enabled``,
``webrtc_enabled``, ``direct_mode_enabled``, ``record_and_send_enabled``) is off for everyone.
A route group refused is a 403 naming the roles it takes; a feature refused is a 404, as if the
server had none (the page hides it from ``/api/client-config``'s ``features``).
"""

from __future__ import annotations

from typing import get_args

from voxgate.server.auth import APIError, Grant
from voxgate.settings import Feature, RouteGroup, Settings

DEFAULT_ROUTE_ROLES: dict[RouteGroup, tuple[str, ...]] = {
    "live": ("admin", "user"),
    "history": ("admin", "user", "viewer"),
    "runs": ("admin", "user"),
    "docs": ("admin", "user"),
    "users": ("admin",),
}
FEATURES: tuple[Feature, ...] = get_args(Feature)
FEATURE_NAMES: dict[Feature, str] = {
    "live_voice": "live voice",
    "webrtc": "WebRTC",
    "direct_mode": "browser-direct mode",
    "record_and_send": "record-and-send",
}
GROUP_NAMES: dict[RouteGroup, str] = {
    "live": "live sessions",
    "history": "conversation history",
    "runs": "background runs",
    "docs": "the API docs",
    "users": "user management",
}


class Policy:
    """The settings' rules, asked per grant."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.routes = {
            **DEFAULT_ROUTE_ROLES,
            **{g: tuple(r) for g, r in settings.route_roles.items()},
        }
        self.agents = {name: tuple(roles) for name, roles in settings.agent_roles.items()}
        self.features = {f: tuple(roles) for f, roles in settings.feature_roles.items()}

    def may(self, grant: Grant, group: RouteGroup) -> bool:
        """Whether the grant's role may use the route group."""
        return grant.role == "admin" or grant.role in self.routes[group]

    def require(self, grant: Grant, group: RouteGroup) -> None:
        """A 403 unless the grant's role may use the route group."""
        if not self.may(grant, group):
            roles = ", ".join(self.routes[group])
            raise APIError(
                403,
                f"role {grant.role!r} may not use {GROUP_NAMES[group]} on this server (it takes: "
                f"{roles}; VOXGATE_ROUTE_ROLES)",
                code="insufficient_role",
            )

    def deployed(self, feature: Feature) -> bool:
        """Whether the deployment serves the feature at all."""
        return bool(getattr(self.settings, f"{feature}_enabled", False))

    def feature(self, grant: Grant, feature: Feature) -> bool:
        """Whether the feature is on for the grant's role."""
        if not self.deployed(feature):
            return False
        roles = self.features.get(feature)
        return roles is None or grant.role == "admin" or grant.role in roles

    def require_feature(self, grant: Grant | None, feature: Feature) -> None:
        """A 404 when the feature is off here (``grant`` None: for everyone, before a key)."""
        name = FEATURE_NAMES[feature]
        if not self.deployed(feature):
            raise APIError(
                404,
                f"{name} is turned off on this server (VOXGATE_{feature.upper()}_ENABLED)",
                code="not_found",
            )
        if grant is not None and not self.feature(grant, feature):
            raise APIError(
                404,
                f"{name} is not available to role {grant.role!r} on this server "
                "(VOXGATE_FEATURE_ROLES)",
                code="not_found",
            )

    def features_for(self, grant: Grant) -> dict[str, bool]:
        """Every feature, on or off for the grant (``/api/client-config``, ``/api/me``)."""
        live = self.may(grant, "live")
        return {f: live and self.feature(grant, f) for f in FEATURES}

    def agent(self, grant: Grant, name: str) -> bool:
        """Whether the grant's role may start a session with agent ``name`` (or run it)."""
        roles = self.agents.get(name)
        return roles is None or grant.role == "admin" or grant.role in roles

    def require_agent(self, grant: Grant, name: str) -> None:
        """A 403 unless the grant's role may start agent (or runner) ``name``."""
        if not self.agent(grant, name):
            raise APIError(
                403,
                f"role {grant.role!r} may not use agent {name!r} (it takes: "
                f"{', '.join(self.agents[name])}; VOXGATE_AGENT_ROLES)",
                code="insufficient_role",
                param="agent",
            )
