"""Which worker process holds an id, when ``voxgate serve --workers N`` runs N of them.

An id belongs to worker ``crc32(id) % N``: the front process routes every connection that names
a session (``/ws/{id}``, ``?call_id=``, a run, an ephemeral key) to its owner, so ids a worker
makes for itself (a new session, an ephemeral key, a run) are drawn until they hash to that
worker (N draws on average). With one process every id is its own.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from voxgate.protocol import new_id

_index, _count = 0, 1


def configure(index: int, count: int) -> None:
    """Make this process worker ``index`` of ``count``."""
    global _index, _count
    if not 0 <= index < count:
        raise ValueError(f"worker index {index} is not within 0..{count - 1}")
    _index, _count = index, count


def owner(key: str, count: int | None = None) -> int:
    """The worker that holds ``key``."""
    return zlib.crc32(key.encode()) % (count or _count)


def pinned(make: Callable[[], str], to: str | None = None) -> str:
    """A value from ``make`` held by this worker (or by the worker of ``to``)."""
    target = owner(to) if to is not None else _index
    while True:
        value = make()
        if _count == 1 or owner(value) == target:
            return value


def new_session_id(prefix: str = "sess") -> str:
    """A new unguessable session id that this worker holds."""
    return pinned(lambda: new_id(prefix))
