"""What a client of a cluster is told when this node is not the one to serve it.

- **A session held by another node** (``SessionElsewhere``): HTTP ``409`` with
  ``error.code: "session_elsewhere"`` and the owner's ``node_url`` and ``node_id`` in the
  ``error`` object; a ``/ws`` WebSocket gets that ``error`` event and is closed with
  ``ELSEWHERE_CLOSE_CODE`` (4409), the reason the JSON ``{"node_url": ...}``; ``/v1/realtime``
  refuses the handshake with the 409. The client connects to ``node_url`` instead (same path,
  same credential).
- **A draining node** (``NodeDraining``): a new session is ``503`` ``node_draining`` with
  ``Retry-After``, naming another live node's ``node_url`` when one is known; a WebSocket is
  closed ``1013`` (try again later).
"""

from __future__ import annotations

import json
from typing import Any

from voxgate.protocol import Event, event
from voxgate.server.auth import APIError
from voxgate.server.cluster.registry import Node

ELSEWHERE_CLOSE_CODE = 4409
"""WebSocket close code for a session held by another node (as HTTP's 409)."""
DRAINING_RETRY_S = 2
"""The ``Retry-After`` of a draining node's refusals."""


class SessionElsewhere(APIError):
    """A session another live node holds: connect to its ``node_url``."""

    close_code = ELSEWHERE_CLOSE_CODE

    def __init__(self, session_id: str, node: Node) -> None:
        super().__init__(
            409,
            f"session {session_id!r} is live on another node ({node.url}): connect there",
            code="session_elsewhere",
        )
        self.node = node

    def body(self) -> dict[str, Any]:
        """The ``error`` object, with the owner's ``node_url`` and ``node_id``."""
        return {**super().body(), "node_url": self.node.url, "node_id": self.node.id}

    def close_event(self) -> Event:
        """The ``error`` event a ``/ws`` client reads before the close."""
        return event("error", error=self.body())

    def close_reason(self) -> str:
        """``{"node_url": ...}`` (a URL too long for a close frame: the code alone)."""
        reason = json.dumps({"node_url": self.node.url})
        return reason if len(reason.encode()) <= 123 else self.code


class NodeDraining(APIError):
    """A node going away: no new session here (``other``: a live node that takes them)."""

    close_code = 1013

    def __init__(self, other: Node | None) -> None:
        where = f"; {other.url} takes new sessions" if other is not None else ""
        super().__init__(
            503,
            f"this node is shutting down and takes no new sessions: try again shortly{where}",
            code="node_draining",
            type_="server_error",
            headers={"Retry-After": str(DRAINING_RETRY_S)},
        )
        self.other = other

    def body(self) -> dict[str, Any]:
        """The ``error`` object, with another node's ``node_url`` when one is known."""
        extra = {"node_url": self.other.url} if self.other is not None else {}
        return {**super().body(), **extra}
