"""Usage limits per role: minutes of live session per day and per month, sessions at once.

A user of a role with limits (``usage_limits``) is checked when a session of theirs starts
(``admit``: 429 ``usage_limit_reached`` saying which limit and when it resets) and followed
while it runs (``track``): its time is written to the store's ``usage`` table every
``TICK_S``, and once the day's or the month's minutes are spent the session's clients get
``voxgate.usage.limit_reached``, the agent says so, and the session ends. Joining another's
session counts against its owner, not the one who joins. The minutes are the store's (Postgres
is shared by every node of a cluster); sessions at once are counted in this process, or in a
cluster across every node (``count``: the cluster's count of an owner's sessions, which the
claim of a new session also checks, atomically).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from voxgate.protocol import event
from voxgate.server.access import SessionRights
from voxgate.server.auth import APIError, Grant
from voxgate.session import Session
from voxgate.settings import Settings, UsageLimit
from voxgate.store import Database
from voxgate.store.schema import Usage as UsageRow

log = logging.getLogger(__name__)

TICK_S = 5.0
"""How often a limited session's time is written and checked."""
NOTICE_S = 6.0
"""How long the agent has to say the limit is reached before the session ends."""
NOTICE = (
    "In one short sentence, tell the user that their voice time is used up for now and "
    "that the session ends. Say nothing else."
)
LIMIT_REACHED = "voxgate.usage.limit_reached"


def _acting(grant: Grant) -> Grant:
    return grant.minted_by if grant.ticket and grant.minted_by is not None else grant


class UsageLimits:
    """Checks and follows the sessions of users whose role has limits."""

    def __init__(
        self,
        settings: Settings,
        rights: SessionRights,
        database: Callable[[], Database],
        spawn: Callable[[Any], asyncio.Task[Any]],
        count: Callable[[str], Awaitable[int | None]] | None = None,
    ) -> None:
        self._limits = settings.usage_limits
        self._rights = rights
        self._database = database
        self._spawn = spawn
        self._count = count

    def limit(self, grant: Grant) -> UsageLimit | None:
        """The limits of the grant's role (a ticket: its minter's), if any."""
        return self._limits.get(_acting(grant).role)  # type: ignore[call-overload]

    def at_once(self, grant: Grant) -> int | None:
        """How many sessions the caller may have live at once (None: no limit)."""
        limit = self.limit(grant)
        return limit.concurrent_sessions if limit is not None else None

    async def live(self, grant: Grant) -> int:
        """How many sessions the caller has live (in a cluster: on every node).

        The cluster's count unreachable: this process's.
        """
        if self._count is not None and grant.caller is not None:
            counted = await self._count(grant.caller)
            if counted is not None:
                return counted
        return self._rights.live_of(grant)

    async def admit(self, grant: Grant) -> None:
        """A 429 if a new session would pass a limit of the caller's."""
        limit = self.limit(grant)
        if limit is None:
            return
        if limit.concurrent_sessions is not None:
            live = await self.live(grant)
            if live >= limit.concurrent_sessions:
                raise self.too_many_at_once(live)
        over = await self._over(grant, limit, 0.0)
        if over is not None:
            raise _refused(over)

    @staticmethod
    def too_many_at_once(live: int) -> APIError:
        """The 429 for a caller who has ``live`` sessions, their most at once."""
        return _refused(
            f"{live} of your sessions are live, the most your role may have at once; end one first"
        )

    def track(self, session: Session, grant: Grant) -> None:
        """Follow ``session``'s time against the caller's limits (nothing without any)."""
        limit = self.limit(grant)
        if limit is None or (limit.minutes_per_day is None and limit.minutes_per_month is None):
            return
        self._spawn(self._follow(session, grant, limit))

    async def _follow(self, session: Session, grant: Grant, limit: UsageLimit) -> None:
        acting = _acting(grant)
        row_id: int | None = None
        started = asyncio.get_running_loop().time()
        try:
            async with self._database().sessions.begin() as db:
                row = UsageRow(
                    user_id=acting.user_id, key_id=acting.key, conversation_id=session.id
                )
                db.add(row)
                await db.flush()
                row_id = row.id
            while not session.ended.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(session.ended.wait(), TICK_S)
                seconds = asyncio.get_running_loop().time() - started
                await self._write(row_id, seconds)
                if session.ended.is_set():
                    break
                over = await self._over(grant, limit, 0.0)
                if over is not None:
                    await self._stop(session, over)
                    break
        except Exception:
            log.exception("usage of session %s could not be followed", session.id)
        finally:
            if row_id is not None:
                seconds = asyncio.get_running_loop().time() - started
                with contextlib.suppress(Exception):
                    await self._write(row_id, seconds)

    async def _write(self, row_id: int, seconds: float) -> None:
        async with self._database().sessions.begin() as db:
            await db.execute(update(UsageRow).where(UsageRow.id == row_id).values(seconds=seconds))

    async def _over(self, grant: Grant, limit: UsageLimit, extra_s: float) -> str | None:
        """Which limit the caller has spent, as a sentence; None while within them."""
        now = datetime.now(UTC)
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        month = day.replace(day=1)
        for minutes, since, name, resets in (
            (limit.minutes_per_day, day, "today's", day + timedelta(days=1)),
            (limit.minutes_per_month, month, "this month's", _next_month(month)),
        ):
            if minutes is None:
                continue
            used = (await self._used_s(grant, since) + extra_s) / 60
            if used >= minutes:
                return (
                    f"{name} {minutes:g} minutes of voice are used up ({used:.1f} used); "
                    f"they come back at {resets:%Y-%m-%d %H:%M} UTC"
                )
        return None

    async def _used_s(self, grant: Grant, since: datetime) -> float:
        acting = _acting(grant)
        who = (
            UsageRow.user_id == acting.user_id
            if acting.user_id is not None
            else UsageRow.key_id == acting.key
        )
        query = select(func.coalesce(func.sum(UsageRow.seconds), 0.0)).where(
            who, UsageRow.started_at >= since
        )
        async with self._database().sessions() as db:
            return float(await db.scalar(query) or 0.0)

    async def _stop(self, session: Session, reason: str) -> None:
        log.info("session %s: usage limit reached: %s", session.id, reason)
        session.broadcast(event(LIMIT_REACHED, session_id=session.id, reason=reason))
        with contextlib.suppress(Exception):
            await session.interrupt()
            await session.send({"type": "response.create", "response": {"instructions": NOTICE}})
            await asyncio.sleep(NOTICE_S)  # the notice is spoken
        await session.end("usage_limit_reached", reason)


def _refused(reason: str) -> APIError:
    return APIError(429, reason, code="usage_limit_reached", type_="rate_limit_error")


def _next_month(month: datetime) -> datetime:
    return (month + timedelta(days=32)).replace(day=1)
