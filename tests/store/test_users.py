"""Users and keys on SQLite and Postgres: keys kept only hashed, rotation, disabling, the cache."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from voxgate.store import Database
from voxgate.store.schema import ApiKey
from voxgate.store.users import ROLES, UnknownUser, UserError, Users, hash_key


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_new_user_gets_a_key_the_store_keeps_only_hashed(database: Database) -> None:
    users = Users(database)
    user, key = await users.add("alice", "user")
    assert key.startswith("vg_") and len(key) > 40
    assert (user.name, user.role, user.disabled) == ("alice", "user", False)
    assert user.keys == (key[:11],)
    async with database.sessions() as s:
        row = (await s.scalars(select(ApiKey))).one()
    assert row.hash == hash_key(key) and key not in (row.hash, row.prefix)
    owner = await users.lookup(key)
    assert owner is not None and owner.user.id == user.id and not owner.revoked
    assert await users.lookup("vg_" + "x" * 43) is None
    assert await users.has_users()


async def test_names_and_roles_are_checked(database: Database) -> None:
    users = Users(database)
    await users.add("bob", "viewer")
    with pytest.raises(UserError, match="exists"):
        await users.add("bob", "admin")
    with pytest.raises(UserError, match="choose one of admin, user, viewer"):
        await users.add("carol", "root")
    with pytest.raises(UserError, match="invalid user name"):
        await users.add("no spaces", "user")
    with pytest.raises(UnknownUser):
        await users.update("nobody", disabled=True)
    assert [u.name for u in await users.all()] == ["bob"]


async def test_rotation_revokes_old_keys_and_issues_a_new_one(database: Database) -> None:
    users = Users(database)
    user, old = await users.add("dave", "admin")
    rotated, new = await users.rotate("dave")
    assert new != old and rotated.keys == (new[:11],)
    old_owner, new_owner = await users.lookup(old), await users.lookup(new)
    assert old_owner is not None and old_owner.revoked
    assert new_owner is not None and not new_owner.revoked and new_owner.user.id == user.id


async def test_disable_enable_and_role_change(database: Database) -> None:
    users = Users(database)
    user, key = await users.add("erin", "user")
    await users.update(user.id, disabled=True, role="viewer")
    owner = await users.lookup(key)
    assert owner is not None and owner.user.disabled and owner.user.role == "viewer"
    await users.update("erin", disabled=False)
    owner = await users.lookup(key)
    assert owner is not None and not owner.user.disabled


async def test_another_process_s_change_is_seen_once_the_cache_expires(database: Database) -> None:
    clock = Clock()
    server = Users(database, cache_ttl_s=5.0, clock=clock)
    cli = Users(database)  # e.g. `voxgate users disable` in another process
    _, key = await cli.add("frank", "user")
    assert not (await server.lookup(key)).user.disabled  # type: ignore[union-attr]
    await cli.update("frank", disabled=True)
    assert not (await server.lookup(key)).user.disabled  # type: ignore[union-attr]  # cached
    clock.now += 5.0
    assert (await server.lookup(key)).user.disabled  # type: ignore[union-attr]


async def test_an_outside_identity_is_kept_as_a_user_with_its_token_s_role(
    database: Database,
) -> None:
    users = Users(database)
    assert not await users.has_users()
    first = await users.ensure("jwt_abc", "jwt:abc", "viewer")
    again = await users.ensure("jwt_abc", "jwt:abc", "viewer")
    assert first == again and first.keys == ()
    promoted = await users.ensure("jwt_abc", "jwt:abc", "admin")
    assert promoted.role == "admin"
    await users.update("jwt_abc", disabled=True)
    assert (await users.ensure("jwt_abc", "jwt:abc", "admin")).disabled
    assert [u.role for u in await users.all()] == ["admin"]
    assert set(ROLES) == {"admin", "user", "viewer"}
