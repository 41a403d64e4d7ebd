"""The right to join a live session: who opened it, and what joining it takes.

A live session belongs to whoever opened it: a store user (by user id, whichever of their keys,
tokens or tickets they use), else the key that opened it, else the tickets minted for it. Only
its owner may join it by id — or an admin (a configured key, an admin user), who may join any.
A ticket opens only the session it was minted for. With the server open (the single-user local
default) a session opened without a key has no owner and anyone may join it by id; one opened
with a key (a ticket, or a bearer the client chose) needs the same. Session ids the server
makes are unguessable (``protocol.new_id``); ids a ``/ws`` client chooses are its own business.
"""

from __future__ import annotations

from collections import OrderedDict

from voxgate.server.auth import APIError, Grant
from voxgate.session import Session

MAX_CALLS = 1000
"""Browser-direct calls whose owner is remembered in memory: the oldest goes first (the store
keeps every call's conversation and its user)."""


def forbidden(session_id: str, *, ticket: bool = False) -> APIError:
    """The 403 for a session the caller has no right to (whether it is live or not)."""
    why = (
        "an ephemeral key opens only the session it was minted for"
        if ticket
        else "a session belongs to whoever opened it (and admins)"
    )
    return APIError(403, f"{why}: not {session_id!r}", code="session_forbidden")


def _owner_of(grant: Grant, session_id: str) -> str | None:
    """Who a session opened under ``grant`` belongs to (a ticket: its minter)."""
    if grant.ticket:
        minter = _owner_of(grant.minted_by, session_id) if grant.minted_by else None
        return minter or "ek:" + session_id  # else any ticket for this session, no other key
    if grant.user_id is not None:
        return "user:" + grant.user_id
    return grant.key


def _may(grant: Grant, session_id: str, owner: str | None) -> bool:
    """Whether ``grant`` may act on ``session_id``, which belongs to ``owner``."""
    if grant.ticket and session_id != grant.session_id:
        return False
    if owner is None or owner == _owner_of(grant, session_id):
        return True
    acting = grant.minted_by if grant.ticket and grant.minted_by else grant
    return acting.role == "admin" and acting.kind in ("api_key", "jwt")


class SessionRights:
    """Who opened each live session (a user, a key) and started each browser-direct call."""

    def __init__(self) -> None:
        self._owners: dict[str, tuple[Session, str]] = {}
        self._calls: OrderedDict[str, str] = OrderedDict()

    def check(self, grant: Grant, session_id: str, live: Session | None) -> None:
        """Raise a 403 unless ``grant`` may open or join ``session_id`` (``live``, if it is)."""
        owner = self._owner(live) if live is not None else None
        if not _may(grant, session_id, owner):
            raise forbidden(session_id, ticket=grant.ticket and session_id != grant.session_id)

    def opened(self, session: Session, grant: Grant) -> None:
        """``session`` was just created under ``grant``: remember who may join it."""
        self._forget_ended()
        owner = _owner_of(grant, session.id)
        if owner is not None:
            self._owners[session.id] = (session, owner)

    def check_call(self, grant: Grant, call_id: str, *, claim: bool = False) -> None:
        """Raise a 403 unless ``grant`` may read or write call ``call_id``'s transcript.

        ``claim``: an unclaimed call becomes the grant's.
        """
        owner = self._calls.get(call_id)
        if not _may(grant, call_id, owner):
            raise forbidden(call_id, ticket=grant.ticket and call_id != grant.session_id)
        if claim and owner is None:
            self.claim(call_id, grant)

    def claim(self, call_id: str, grant: Grant) -> None:
        """Browser-direct call ``call_id`` was started under ``grant`` (the last few kept)."""
        owner = _owner_of(grant, call_id)
        if owner is None:
            return
        self._calls[call_id] = owner
        self._calls.move_to_end(call_id)
        while len(self._calls) > MAX_CALLS:
            self._calls.popitem(last=False)

    def live_of(self, grant: Grant) -> int:
        """How many live sessions the caller of ``grant`` (a user, else a key) has opened."""
        owner = _owner_of(grant, "")
        return sum(1 for s, o in self._owners.values() if o == owner and not s.ended.is_set())

    def user_of(self, session_id: str) -> str | None:
        """The store user who opened the live session ``session_id``, if one did."""
        entry = self._owners.get(session_id)
        if entry is None or entry[0].ended.is_set() or not entry[1].startswith("user:"):
            return None
        return entry[1].removeprefix("user:")

    def _owner(self, session: Session) -> str | None:
        entry = self._owners.get(session.id)
        return entry[1] if entry is not None and entry[0] is session else None

    def _forget_ended(self) -> None:
        for session_id in [i for i, (s, _) in self._owners.items() if s.ended.is_set()]:
            del self._owners[session_id]


def owns(grant: Grant, owner: str | None) -> bool:
    """Whether ``grant`` may use a conversation of user ``owner``: an admin any, a user theirs.

    One opened by a configured key or an open server has no user: admins only.
    """
    return grant.role == "admin" or (owner is not None and owner == grant.user_id)


def conversation_forbidden(conversation_id: str) -> APIError:
    """The 403 for a conversation that belongs to another user."""
    return APIError(
        403,
        f"conversation {conversation_id!r} belongs to another user; use an id of your own",
        code="conversation_forbidden",
    )
