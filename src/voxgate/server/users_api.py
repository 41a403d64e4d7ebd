"""``/api/me`` (who the caller is) and the admin API of users: list, add, change, rotate keys.

A new or rotated key is in the response once and never again (the store keeps its hash). Users
are named by id or name in the path. Admins only (``AdminDep``), never with a ticket.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from voxgate.server.auth import APIError
from voxgate.server.gateway import AdminDep, Gateway, GatewayDep, GrantDep
from voxgate.settings import Role
from voxgate.store.users import UnknownUser, UserError, UserExists, Users

router = APIRouter()


def _users(gateway: Gateway) -> Users:
    if gateway.users is None:
        raise APIError(503, "the store is not open yet", code="not_ready", type_="server_error")
    return gateway.users


def _refused(exc: Exception) -> APIError:
    if isinstance(exc, UnknownUser):
        return APIError(404, str(exc), code="user_not_found")
    if isinstance(exc, UserExists):
        return APIError(409, str(exc), code="user_exists", param="name")
    return APIError(400, str(exc), code="invalid_value")


class NewUser(BaseModel):
    """``POST /api/users``: a user's name and role."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    role: Role = "user"


class UserChange(BaseModel):
    """``PATCH /api/users/{id}``: what to change (fields left out stay)."""

    model_config = ConfigDict(extra="forbid")
    role: Role | None = None
    disabled: bool | None = None


@router.get("/api/me")
async def me(gateway: GatewayDep, grant: GrantDep) -> dict[str, Any]:
    """The caller: their user (None for a configured key or an open server), role, features."""
    user = None
    if grant.user_id is not None and gateway.users is not None:
        found = await gateway.users.user(grant.user_id)
        if found is not None:
            user = {"id": found.id, "name": found.name, "role": grant.role}
    return {
        "user": user,
        "role": grant.role,
        "credential": grant.kind,
        "auth": {"required": await gateway.auth.required()},
        "features": gateway.policy.features_for(grant),
    }


@router.get("/api/users")
async def list_users(gateway: GatewayDep, grant: AdminDep) -> dict[str, Any]:
    """Every user (with their keys' display prefixes)."""
    return {"data": [u.to_json() for u in await _users(gateway).all()]}


@router.post("/api/users", status_code=201)
async def add_user(body: NewUser, gateway: GatewayDep, grant: AdminDep) -> dict[str, Any]:
    """A new user and its key (shown this once)."""
    try:
        user, key = await _users(gateway).add(body.name, body.role)
    except UserError as exc:
        raise _refused(exc) from None
    return {"user": user.to_json(), "key": key}


@router.patch("/api/users/{user}")
async def change_user(
    user: str, body: UserChange, gateway: GatewayDep, grant: AdminDep
) -> dict[str, Any]:
    """Change a user's role, or disable / enable it (at once for this server)."""
    try:
        changed = await _users(gateway).update(user, role=body.role, disabled=body.disabled)
    except (UserError, UnknownUser) as exc:
        raise _refused(exc) from None
    return {"user": changed.to_json()}


@router.post("/api/users/{user}/rotate")
async def rotate_key(user: str, gateway: GatewayDep, grant: AdminDep) -> dict[str, Any]:
    """Revoke the user's keys and issue a new one (shown this once)."""
    try:
        rotated, key = await _users(gateway).rotate(user)
    except (UserError, UnknownUser) as exc:
        raise _refused(exc) from None
    return {"user": rotated.to_json(), "key": key}
