"""Users and their API keys: who may use the server, and with what role.

A key is ``vg_`` and 256 random bits; the store keeps only its SHA-256 (``api_keys.hash``) and a
display prefix, so a leaked database opens nothing. ``lookup(key)`` answers from a short-lived
in-memory cache (``cache_ttl_s``) so a request does not reach the database each time; a change
made through this object clears the cache at once, one made by another process (``voxgate users
disable``) is seen within ``cache_ttl_s``.

Users a JWT names (``ensure``) are kept too, so their conversations have an owner row; their
role comes from each token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from voxgate.settings import ROLES
from voxgate.store.database import Database
from voxgate.store.schema import ApiKey, User, utcnow

KEY_PREFIX = "vg_"
DISPLAY_CHARS = 11
"""How much of a key ``prefix`` keeps for display (``vg_`` and 8 characters)."""
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")
CACHE_TTL_S = 5.0
MAX_CACHED = 10_000
"""Lookups kept; past it the oldest go (unknown keys are cached too, so memory stays bounded)."""


class UserError(ValueError):
    """A refused change: a bad name or role, a name taken."""


class UserExists(UserError):
    """The name is taken."""


class UnknownUser(LookupError):
    """No user by that id or name."""


@dataclass(frozen=True)
class UserInfo:
    """A user as the server and the admin API see it (``keys``: prefixes of unrevoked keys)."""

    id: str
    name: str
    role: str
    disabled: bool
    created_at: datetime
    keys: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The user in the admin API's shape."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "disabled": self.disabled,
            "created_at": self.created_at.isoformat(),
            "keys": list(self.keys),
        }


@dataclass(frozen=True)
class KeyOwner:
    """Whose key it is; ``revoked``: rotated away (the caller words the refusal)."""

    user: UserInfo
    revoked: bool


def hash_key(key: str) -> str:
    """The SHA-256 of a key, as stored (a key has 256 random bits: no salt or stretching)."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A new long-lived API key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def check_role(role: str) -> str:
    """``role`` if it is one, else a ``UserError`` naming the choices."""
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    return role


class _Cache:
    """Answers kept for ``ttl_s`` seconds, at most ``MAX_CACHED`` of them."""

    def __init__(self, ttl_s: float, clock: Callable[[], float]) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def get(self, key: str) -> tuple[bool, Any]:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self.clock():
            return False, None
        return True, entry[1]

    def put(self, key: str, value: Any) -> None:
        self._entries[key] = (self.clock() + self.ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > MAX_CACHED:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


class Users:
    """The users and keys of one database."""

    def __init__(
        self,
        db: Database,
        *,
        cache_ttl_s: float = CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self._cache = _Cache(cache_ttl_s, clock)

    async def add(self, name: str, role: str) -> tuple[UserInfo, str]:
        """A new user and its first key (shown once: only its hash is kept)."""
        if not NAME.match(name):
            raise UserError(
                f"invalid user name {name!r}: 1 to 100 letters, digits and . _ @ + -, "
                "starting with a letter or digit"
            )
        check_role(role)
        key = new_key()
        user = User(id=_new_id("usr"), name=name, role=role, disabled=False)
        try:
            async with self.db.sessions.begin() as s:
                s.add(user)
                await s.flush()
                s.add(_key_row(user.id, key))
        except IntegrityError:
            raise UserExists(f"a user named {name!r} exists: choose another name") from None
        self._cache.clear()
        return await self.get(user.id), key

    async def all(self) -> list[UserInfo]:
        """Every user, oldest first."""
        async with self.db.sessions() as s:
            users = (await s.scalars(select(User).order_by(User.created_at, User.name))).all()
            keys = await self._active_keys(s, [u.id for u in users])
        return [_info(u, keys.get(u.id, ())) for u in users]

    async def get(self, ref: str) -> UserInfo:
        """The user with this id or name, or ``UnknownUser``."""
        async with self.db.sessions() as s:
            user = await self._find(s, ref)
            keys = await self._active_keys(s, [user.id])
        return _info(user, keys.get(user.id, ()))

    async def update(
        self, ref: str, *, role: str | None = None, disabled: bool | None = None
    ) -> UserInfo:
        """Change a user's role or disable / enable it (effective at once in this process)."""
        if role is not None:
            check_role(role)
        async with self.db.sessions.begin() as s:
            user = await self._find(s, ref)
            if role is not None:
                user.role = role
            if disabled is not None:
                user.disabled = disabled
        self._cache.clear()
        return await self.get(user.id)

    async def rotate(self, ref: str) -> tuple[UserInfo, str]:
        """Revoke every key of the user and issue a new one (shown once)."""
        key = new_key()
        async with self.db.sessions.begin() as s:
            user = await self._find(s, ref)
            await s.execute(
                update(ApiKey)
                .where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            s.add(_key_row(user.id, key))
        self._cache.clear()
        return await self.get(user.id), key

    async def lookup(self, key: str) -> KeyOwner | None:
        """Whose key this is (revoked or not), or None for a key the store never issued."""
        return await self.lookup_hash(hash_key(key))

    async def lookup_hash(self, digest: str) -> KeyOwner | None:
        """``lookup`` by the key's SHA-256 (a ticket remembers the key that minted it so)."""
        hit, value = self._cache.get("key:" + digest)
        if hit:
            return value
        async with self.db.sessions() as s:
            row = (
                await s.execute(
                    select(ApiKey, User)
                    .join(User, User.id == ApiKey.user_id)
                    .where(ApiKey.hash == digest)
                )
            ).first()
        owner = None if row is None else KeyOwner(_info(row[1]), row[0].revoked_at is not None)
        self._cache.put("key:" + digest, owner)
        return owner

    async def user(self, user_id: str) -> UserInfo | None:
        """The user with this id, from the cache when fresh (None: no such user)."""
        hit, value = self._cache.get("user:" + user_id)
        if hit:
            return value
        async with self.db.sessions() as s:
            row = await s.get(User, user_id)
        info = None if row is None else _info(row)
        self._cache.put("user:" + user_id, info)
        return info

    async def ensure(self, user_id: str, name: str, role: str) -> UserInfo:
        """The user ``user_id`` of an outside identity (a JWT's subject), created or updated.

        Its role follows the token; it has no keys; ``disabled`` stays as an admin set it.
        """
        check_role(role)
        known = await self.user(user_id)
        if known is not None and known.role == role:
            return known
        try:
            async with self.db.sessions.begin() as s:
                row = await s.get(User, user_id)
                if row is None:
                    s.add(User(id=user_id, name=name, role=role, disabled=False))
                else:
                    row.role = role
        except IntegrityError:  # created meanwhile by a concurrent request
            pass
        self._cache.clear()
        found = await self.user(user_id)
        if found is None:
            raise UserError(f"user name {name!r} is taken by another user")
        return found

    async def has_users(self) -> bool:
        """Whether any user exists (then the server requires a key)."""
        hit, value = self._cache.get("any")
        if hit:
            return bool(value)
        async with self.db.sessions() as s:
            count = await s.scalar(select(func.count()).select_from(User))
        self._cache.put("any", bool(count))
        return bool(count)

    def forget(self) -> None:
        """Drop every cached answer (another process changed the store, a test says so)."""
        self._cache.clear()

    async def _find(self, s: Any, ref: str) -> User:
        user = await s.scalar(select(User).where((User.id == ref) | (User.name == ref)))
        if user is None:
            raise UnknownUser(f"no user {ref!r} (give a user's name or id)")
        return user

    async def _active_keys(self, s: Any, user_ids: list[str]) -> dict[str, tuple[str, ...]]:
        if not user_ids:
            return {}
        rows = await s.execute(
            select(ApiKey.user_id, ApiKey.prefix)
            .where(ApiKey.user_id.in_(user_ids), ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.created_at)
        )
        keys: dict[str, tuple[str, ...]] = {}
        for user_id, prefix in rows:
            keys[user_id] = (*keys.get(user_id, ()), prefix)
        return keys


def _new_id(kind: str) -> str:
    return f"{kind}_{secrets.token_hex(12)}"


def _key_row(user_id: str, key: str) -> ApiKey:
    return ApiKey(
        id=_new_id("key"), user_id=user_id, hash=hash_key(key), prefix=key[:DISPLAY_CHARS]
    )


def _info(user: User, keys: tuple[str, ...] = ()) -> UserInfo:
    return UserInfo(user.id, user.name, user.role, user.disabled, user.created_at, keys)
