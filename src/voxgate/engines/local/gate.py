"""Where a speculative reply's events go: held while the user's turn may go on, then out.

The local engine starts replying when the user falls silent; until the turn commits its
events wait here, and its audio counts as unheard (``Playback.release`` on ``open``).
"""

from __future__ import annotations

from collections.abc import Callable

from voxgate.engines.core.playback import Playback
from voxgate.protocol import Event


class Gate:
    """Where a response's events go: straight out, held until ``open()``, or dropped."""

    def __init__(self, put: Callable[[Event], None], *, is_open: bool = True) -> None:
        self._put = put
        self._held: list[Event] | None = None if is_open else []
        self._dropped = False
        self.playback = Playback(released=is_open)
        """The reply's playback: it may be heard once the gate opens."""

    @property
    def is_open(self) -> bool:
        """Whether events go out as they come."""
        return self._held is None

    def emit(self, ev: Event) -> None:
        """Send, hold or drop ``ev``."""
        if self._dropped:
            return
        if self._held is None:
            self._put(ev)
        else:
            self._held.append(ev)

    def open(self) -> None:
        """Release what was held, in order; later events go straight out."""
        held, self._held = self._held or [], None
        self.playback.release()
        for ev in held:
            self._put(ev)

    def drop(self) -> None:
        """Forget what was held and what will come."""
        self._dropped, self._held = True, []
