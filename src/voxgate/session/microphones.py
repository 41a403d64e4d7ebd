"""A session's input side: every participant's microphone, mixed, to the engine in order.

The ``Mixer`` decides what to send; this runs it on the event loop. One lock keeps the engine's
input in mixing order (a participant's frames and the clock's never interleave), and a timer
set for ``Mixer.due()`` mixes a frame that waited long enough for a late speaker: no one's
audio waits on a speaker that stalled or left. Nothing runs while everyone keeps pace. A timer
that fires much later than set says the event loop stalled, not that a speaker did (its audio
may be waiting unread): it waits once more before giving up on anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from voxgate.protocol import ProtocolError
from voxgate.session.mixer import Mixer

log = logging.getLogger(__name__)

LATE_CLOCK_S = 0.1
"""A timer this late means the event loop was held up (its watchdog warns from 100 ms)."""


class Microphones:
    """Participants' audio → ``Mixer`` → ``send`` (one PCM16 24 kHz append per chunk)."""

    def __init__(self, send: Callable[[bytes], Awaitable[None]]) -> None:
        self._send = send
        self.mixer = Mixer()
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._ticking: asyncio.Task[None] | None = None
        self._armed_for: float | None = None
        self._waited_afresh = False

    async def append(self, key: str, pcm: bytes) -> None:
        """Audio from the participant ``key``; what the mixer releases goes to the engine now."""
        if self._lock.locked():  # mixed audio is on its way: this comes after it
            async with self._lock:
                for chunk in self.mixer.push(key, pcm, asyncio.get_running_loop().time()):
                    await self._send(chunk)
        else:
            chunks = self.mixer.push(key, pcm, asyncio.get_running_loop().time())
            if len(chunks) == 1 and chunks[0] is pcm:
                # passed through: nobody else is heard, so nothing mixed can come before it
                await self._send(pcm)
            elif chunks:
                async with self._lock:  # (taken at once: it was free, and nothing ran since)
                    for chunk in chunks:
                        await self._send(chunk)
        if self.mixer.due() is not None:
            self._arm()

    async def flush(self) -> None:
        """Send everything queued (before a commit: the turn holds all that was said)."""
        async with self._lock:
            for chunk in self.mixer.flush():
                await self._send(chunk)
        self._disarm()

    def clear(self) -> None:
        """Drop everything queued (the input buffer is being cleared)."""
        self.mixer.clear()
        self._disarm()

    def remove(self, key: str) -> None:
        """Stop mixing ``key`` (it left or was muted); frames that waited for it go now."""
        if key in self.mixer.speakers:
            self.mixer.remove(key)
            self._wake()

    def close(self) -> None:
        """Stop the clock (the session ends)."""
        self._disarm()
        if self._ticking is not None:
            self._ticking.cancel()

    def _arm(self) -> None:
        due = self.mixer.due()
        if due is None:
            self._disarm()
        elif self._timer is None or self._timer.when() > due:
            self._disarm()
            self._armed_for = due
            self._timer = asyncio.get_running_loop().call_at(due, self._wake)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _wake(self) -> None:
        self._timer = None
        if self._ticking is None or self._ticking.done():
            with contextlib.suppress(RuntimeError):  # no running loop: the session is gone
                self._ticking = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        try:
            async with self._lock:
                now = asyncio.get_running_loop().time()
                armed_for, self._armed_for = self._armed_for, None
                stalled = armed_for is not None and now - armed_for > LATE_CLOCK_S
                if stalled and not self._waited_afresh:
                    self._waited_afresh = True  # once: a loop always late still gives up
                    self.mixer.wait_afresh(now)
                else:
                    self._waited_afresh = False
                for chunk in self.mixer.pull(now):
                    await self._send(chunk)
        except ProtocolError as exc:  # the session ended meanwhile
            log.debug("mixed audio not sent: %s", exc)
            return
        except Exception:
            log.exception("mixed audio could not reach the engine")
            return
        self._arm()
