"""Many microphones into the one input stream an engine hears, 20 ms frame by frame.

Each speaker's audio (PCM16 24 kHz) waits in its own bounded queue. A frame is mixed as soon as
every *active* speaker has sent it — no clock of ours delays speakers that keep pace — or, once
a frame has waited ``patience`` for a late one (the session's clock calls ``pull``), without
it: the late speaker's share is silence and it stops being waited for until it sends again
(then it is mixed where its audio stands: its own queue absorbs its lateness). A speaker that
stayed more than two frames ahead of the others for a second drops its surplus while it is
quiet (never its speech), so a burst after a stall or a sound card a little fast adds no
lasting delay; past ``queue_ms`` (a server stalled for seconds) the oldest audio goes.

With one speaker (no other active) audio passes through as it came: no copy, no framing, no
delay. Mixing sums in float32 (exact for the int16 sums of up to 256 speakers at unit gain),
applies each speaker's gain, and clips to int16: never a wrap-around. Levels are measured while
mixing (RMS per frame), and only when asked (``measure``), for "who speaks" in the page.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from voxgate.audio import SAMPLE_RATE

FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * 2
PATIENCE_MS = 60.0
"""How long a frame waits for a late speaker, at least (a speaker sending long chunks is given
its chunk's length, up to ``MAX_PATIENCE_MS``)."""
MAX_PATIENCE_MS = 200.0
QUEUE_MS = 2000
"""Most audio one speaker's queue holds; older audio is dropped. Long enough for an event loop
that stalled a while: every client's backlog then comes at once, one after the other."""
AHEAD_FRAMES = 2
"""A speaker that never fell below this many queued frames for ``CATCH_UP_FRAMES`` mixed
frames drops the quiet frames it holds beyond it."""
CATCH_UP_FRAMES = 50
SPEAKING_LEVEL = 0.015
"""RMS (of full scale) over which a frame is speech-loud (~ -36 dBFS)."""
SPEAKING_HOLD_FRAMES = 15
"""A speaker still counts as speaking this many quiet frames (300 ms) after a loud one."""


class _Stream:
    """One speaker's queue and what is known of it."""

    __slots__ = (
        "active",
        "chunk_bytes",
        "dropped_bytes",
        "gain",
        "level",
        "lowest",
        "queue",
        "quiet_frames",
        "speaking",
    )

    def __init__(self) -> None:
        self.queue = bytearray()
        self.active = False
        self.gain = 1.0
        self.chunk_bytes = FRAME_BYTES
        self.dropped_bytes = 0
        self.lowest = math.inf  # fewest bytes queued after a mixed frame, this catch-up window
        self.level = 0.0
        self.quiet_frames = SPEAKING_HOLD_FRAMES
        self.speaking = False


class Mixer:
    """Speakers' audio in (``push``), mixed frames out (``push``'s and ``pull``'s return).

    ``now`` is a monotonic time in seconds (the event loop's). ``due()`` says when ``pull``
    should be called again: when a waiting frame stops waiting for a late speaker. Nothing here
    sleeps or awaits; the session's clock calls ``pull``.
    """

    def __init__(
        self,
        *,
        on_speaking: Callable[[str, bool], None] | None = None,
        patience_ms: float = PATIENCE_MS,
        queue_ms: int = QUEUE_MS,
    ) -> None:
        self._streams: dict[str, _Stream] = {}
        self.on_speaking = on_speaking
        """Told when a speaker starts or stops speaking (levels are measured)."""
        self._patience_s = patience_ms / 1000
        self._max_queue = SAMPLE_RATE * 2 * queue_ms // 1000
        self._waiting_since: float | None = None
        self._mixed = 0  # frames mixed, for the catch-up window
        self._acc = np.zeros(FRAME_SAMPLES, dtype=np.float32)
        self._scaled = np.zeros(FRAME_SAMPLES, dtype=np.float32)
        self._out = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self.measure = False
        """Measure each speaker's level (costs a little per frame; off: levels stay as they
        were). The session turns it on once a second participant can see them."""

    @property
    def speakers(self) -> list[str]:
        """The keys of the speakers heard so far (and not removed)."""
        return list(self._streams)

    def level(self, key: str) -> float:
        """The speaker's last measured RMS level, 0 to 1 of full scale (0 for an unknown one)."""
        stream = self._streams.get(key)
        return stream.level if stream is not None else 0.0

    def dropped_ms(self, key: str) -> float:
        """How much of the speaker's audio was dropped (too far behind or ahead), in ms."""
        stream = self._streams.get(key)
        return stream.dropped_bytes / 2 * 1000 / SAMPLE_RATE if stream is not None else 0.0

    def set_gain(self, key: str, gain: float) -> None:
        """The speaker's gain (1: as sent; 0: silent)."""
        self._streams.setdefault(key, _Stream()).gain = gain

    def push(self, key: str, pcm: bytes, now: float) -> list[bytes]:
        """The speaker ``key`` sent ``pcm`` (whole samples); returns what may go to the engine.

        A speaker alone gets its audio back at once; otherwise it is queued and the frames that
        every active speaker has sent come back, mixed. Nobody is given up on here: only the
        clock (``pull``) decides a speaker is late.
        """
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream()
        stream.chunk_bytes = len(pcm)
        if not stream.queue and not any(
            s.active for s in self._streams.values() if s is not stream
        ):
            stream.active = True
            if stream.gain != 1.0:
                pcm = self._scale(pcm, stream.gain)
            if self.measure:
                self._observe(key, stream, _rms(pcm))
            return [pcm]
        stream.active = True
        stream.queue += pcm
        excess = len(stream.queue) - self._max_queue
        if excess > 0:
            excess += excess % 2
            del stream.queue[:excess]
            stream.dropped_bytes += excess
        return self._emit(now)

    def due(self) -> float | None:
        """When a frame that waits for a late speaker goes without it (None: none waits)."""
        if self._waiting_since is None:
            return None
        late = [s.chunk_bytes for s in self._streams.values() if s.active and not _full(s)]
        chunk_s = max(late, default=0) / 2 / SAMPLE_RATE
        patience = min(max(self._patience_s, chunk_s), MAX_PATIENCE_MS / 1000)
        return self._waiting_since + patience

    def pull(self, now: float) -> list[bytes]:
        """The clock's call: the frames ready at ``now``.

        Past ``due()``, the late speakers are no longer waited for (until they send again).
        """
        due = self.due()
        if due is not None and now >= due:
            for key, stream in self._streams.items():
                if stream.active and not _full(stream):
                    stream.active = False
                    if stream.speaking:  # it went quiet, as far as anyone can hear
                        stream.speaking, stream.quiet_frames = False, SPEAKING_HOLD_FRAMES
                        if self.on_speaking is not None:
                            self.on_speaking(key, False)
        return self._emit(now)

    def wait_afresh(self, now: float) -> None:
        """The clock itself was held up (a stalled event loop): whatever waits, waits again.

        The speakers it would give up on may have sent, unread; ``patience`` starts at ``now``.
        """
        if self._waiting_since is not None:
            self._waiting_since = now

    def _emit(self, now: float) -> list[bytes]:
        frames: list[bytes] = []
        while ready := self._ready():
            frames.append(self._mix(ready))
        if any(_full(s) for s in self._streams.values()):
            if frames or self._waiting_since is None:
                self._waiting_since = now
        else:
            self._waiting_since = None
        return frames

    def flush(self) -> list[bytes]:
        """Everything queued, mixed now (short tails padded with silence): before a commit."""
        frames: list[bytes] = []
        while any(s.queue for s in self._streams.values()):
            for stream in self._streams.values():
                if 0 < len(stream.queue) < FRAME_BYTES:
                    stream.queue += bytes(FRAME_BYTES - len(stream.queue))
            frames.append(self._mix([(k, s) for k, s in self._streams.items() if s.queue]))
        self._waiting_since = None
        return frames

    def clear(self) -> None:
        """Drop everything queued (the input buffer was cleared)."""
        for stream in self._streams.values():
            stream.queue.clear()
        self._waiting_since = None

    def remove(self, key: str) -> None:
        """Forget a speaker and its queued audio (it left, or was muted).

        ``pull`` may then have frames that were waiting for it.
        """
        stream = self._streams.pop(key, None)
        if stream is not None and stream.speaking and self.on_speaking is not None:
            self.on_speaking(key, False)

    # -- mixing ----------------------------------------------------------------------------

    def _ready(self) -> list[tuple[str, _Stream]]:
        """The speakers of the next frame, if every active one has sent it (else none)."""
        ready = []
        for key, stream in self._streams.items():
            if len(stream.queue) >= FRAME_BYTES:
                ready.append((key, stream))
            elif stream.active:
                return []
        return ready

    def _mix(self, streams: list[tuple[str, _Stream]]) -> bytes:
        """One frame from each of ``streams`` (each holds a whole one), summed and clipped."""
        self._mixed += 1
        catch_up = self._mixed % CATCH_UP_FRAMES == 0
        if len(streams) == 1 and streams[0][1].gain == 1.0 and not self.measure:
            stream = streams[0][1]
            frame = bytes(stream.queue[:FRAME_BYTES])
            del stream.queue[:FRAME_BYTES]
            self._track_depth(stream, catch_up)
            return frame
        acc, scaled = self._acc, self._scaled
        acc.fill(0.0)
        whole = True
        for key, stream in streams:
            # the int16 view lives only for this statement: the queue is resized after it
            scaled[:] = np.frombuffer(stream.queue, np.int16, FRAME_SAMPLES)
            del stream.queue[:FRAME_BYTES]
            if stream.gain != 1.0:
                scaled *= stream.gain
                whole = whole and stream.gain.is_integer()
            if self.measure:
                self._observe(key, stream, math.sqrt(float(np.dot(scaled, scaled)) / FRAME_SAMPLES))
            np.add(acc, scaled, out=acc)
            self._track_depth(stream, catch_up)
        if not whole:
            np.rint(acc, out=acc)
        np.minimum(acc, _MAX, out=acc)  # (np.clip costs twice as much per call)
        np.maximum(acc, _MIN, out=acc)
        self._out[:] = acc
        return self._out.tobytes()

    def _track_depth(self, stream: _Stream, catch_up: bool) -> None:
        """Keep the speaker's lowest queue depth; at a window's end drop a lasting surplus."""
        stream.lowest = min(stream.lowest, len(stream.queue))
        if not catch_up:
            return
        surplus = int(stream.lowest) // FRAME_BYTES - AHEAD_FRAMES if stream.active else 0
        while surplus > 0 and _rms(stream.queue[:FRAME_BYTES]) < SPEAKING_LEVEL * 32768:
            del stream.queue[:FRAME_BYTES]  # a quiet frame: nobody misses it
            stream.dropped_bytes += FRAME_BYTES
            surplus -= 1
        stream.lowest = math.inf

    def _scale(self, pcm: bytes, gain: float) -> bytes:
        samples = np.frombuffer(pcm, np.int16).astype(np.float32) * gain
        return bytes(np.clip(np.rint(samples), -32768, 32767).astype(np.int16).tobytes())

    def _observe(self, key: str, stream: _Stream, rms: float) -> None:
        stream.level = rms / 32768
        if stream.level >= SPEAKING_LEVEL:
            stream.quiet_frames = 0
        else:
            stream.quiet_frames += 1
        speaking = stream.quiet_frames < SPEAKING_HOLD_FRAMES
        if speaking != stream.speaking:
            stream.speaking = speaking
            if self.on_speaking is not None:
                self.on_speaking(key, speaking)


_MIN, _MAX = np.float32(-32768), np.float32(32767)


def _full(stream: _Stream) -> bool:
    return len(stream.queue) >= FRAME_BYTES


def _rms(pcm: bytes | bytearray) -> float:
    if len(pcm) < 2:
        return 0.0
    samples = np.frombuffer(pcm, np.int16).astype(np.float32)
    return math.sqrt(float(np.dot(samples, samples)) / samples.size)
