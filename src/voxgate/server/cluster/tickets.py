"""Tickets (ephemeral ``ek_`` keys) every node of a cluster knows.

A ticket is minted on one node and presented on another (the page mints one, then its
WebSocket reaches whichever node the load balancer picks, or the node holding the session).
The minting node also writes it to Redis (``ticket:{sha256 of the key}``: the session it opens,
its configuration, its minter; expiring with it); a node that does not know a ticket looks
there. Redis unreachable: a ticket works on the node that minted it only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time

from redis.exceptions import RedisError

from voxgate.server.auth import ClientSecret, grant_from_wire, grant_to_wire
from voxgate.server.cluster.registry import Cluster

log = logging.getLogger(__name__)


class SharedTickets:
    """The tickets of every node of ``cluster``."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster

    def _key(self, value: str) -> str:
        return self._cluster.key("ticket", hashlib.sha256(value.encode()).hexdigest())

    async def put(self, secret: ClientSecret) -> None:
        """Make ``secret`` known to every node until it expires."""
        ttl_ms = int((secret.expires_at - time.time()) * 1000)
        if ttl_ms <= 0:
            return
        data = {
            "expires_at": secret.expires_at,
            "session": secret.session,
            "session_id": secret.session_id,
            "user_id": secret.user_id,
            "role": secret.role,
            "minted_by": grant_to_wire(secret.minted_by) if secret.minted_by else None,
        }
        try:
            await self._cluster.redis.set(self._key(secret.value), json.dumps(data), px=ttl_ms)
        except (RedisError, OSError) as exc:
            log.warning("cluster: a ticket is known to this node only (%s)", exc)

    async def get(self, value: str) -> ClientSecret | None:
        """The unexpired ticket ``value`` another node minted, if any."""
        try:
            raw = await self._cluster.redis.get(self._key(value))
        except (RedisError, OSError) as exc:
            log.warning("cluster: could not look a ticket up (%s)", exc)
            return None
        if raw is None:
            return None
        data = json.loads(raw)
        if data["expires_at"] <= time.time():
            return None
        minted_by = data.get("minted_by")
        return ClientSecret(
            value,
            int(data["expires_at"]),
            data["session"],
            data["session_id"],
            user_id=data.get("user_id"),
            role=data.get("role", "admin"),
            minted_by=grant_from_wire(minted_by) if minted_by else None,
        )
