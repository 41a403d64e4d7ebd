"""Give the memory of closed sessions back to the operating system.

A session's set-up allocates in C (a connection's compression state, codecs, buffers); once
freed, glibc keeps those pages in its heaps, and RSS climbs with every round of sessions
opened and closed although nothing is retained. ``malloc_trim`` returns the free pages; it
runs once per ``DELAY_S`` after sessions close, not per session.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import weakref
from collections.abc import Callable

log = logging.getLogger(__name__)

DELAY_S = 1.0
"""Sessions that close within this time share one trim."""


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None  # not glibc: nothing to trim
    return trim


_TRIM = _malloc_trim()
_pending: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()  # a trim is due


def release_memory() -> None:
    """Trim the C heap soon (once for every session that closes meanwhile)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    if _TRIM is None or loop in _pending:
        return
    _pending.add(loop)
    loop.call_later(DELAY_S, _trim_now, loop)


def _trim_now(loop: asyncio.AbstractEventLoop) -> None:
    _pending.discard(loop)
    if _TRIM is not None:
        _TRIM(0)
