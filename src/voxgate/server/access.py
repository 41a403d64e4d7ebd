"""The right to join a live session: who opened it, and with which key.

An API key may join any session; an ephemeral key only the one it was minted for (by id, so a
reconnect with the same key resumes it). With no keys configured (the open single-user default)
anyone may join a session by id — except one opened with a key (an ephemeral key, or a bearer
key the client chose): that needs the same key. Session ids the server makes are unguessable
(``protocol.new_id``); ids a ``/ws`` client chooses are its own business in the open default.
"""

from __future__ import annotations

from voxgate.server.auth import APIError, Grant
from voxgate.session import Session


def forbidden(session_id: str) -> APIError:
    """The 403 for a session the caller has no right to (whether it is live or not)."""
    return APIError(
        403,
        "an ephemeral key opens only the session it was minted for, and a session opened "
        f"with a key needs that key: this key does not open {session_id!r}",
        code="session_forbidden",
    )


class SessionRights:
    """Which live sessions were opened under a key, and what joining them takes."""

    def __init__(self) -> None:
        self._owners: dict[str, tuple[Session, str]] = {}

    def check(self, grant: Grant, session_id: str, live: Session | None) -> None:
        """Raise a 403 unless ``grant`` may open or join ``session_id`` (``live``, if it is)."""
        if grant.kind == "client_secret":
            if session_id != grant.session_id:
                raise forbidden(session_id)
            return
        if grant.kind == "api_key" or live is None:
            return
        owner = self._owner(live)
        if owner is not None and owner != grant.key:
            raise forbidden(session_id)

    def opened(self, session: Session, grant: Grant) -> None:
        """``session`` was just created under ``grant``: remember who may join it."""
        self._forget_ended()
        if grant.kind == "client_secret":
            owner = "ek:" + session.id  # any key minted for this session, and no other
        elif grant.key is not None:
            owner = grant.key
        else:
            return
        self._owners[session.id] = (session, owner)

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
