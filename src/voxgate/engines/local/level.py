"""Where the words stop: a level meter that hears the end of speech before the VAD does.

Silero hears speech end late: its recurrent state fades over two or three 32 ms frames, so
over 22 sentences in Piper's voice and three espeak voices its first silent frame ended 71 to
109 ms (median, by voice) after the last loud sample. The signal's level falls at once:
``QUIET_MS`` under a fiftieth of the utterance's loudness marks where the words may have
stopped, ~53 ms after the last loud sample. The local engine starts transcribing and judging
the turn there, while the VAD still decides when the turn ends. A dip between words is quiet
too (0.6 to 2.6 times a sentence, by voice); the next sound drops what was started on it.
Over a noisy microphone the level never falls that far, and the VAD's pause starts the work.
"""

from __future__ import annotations

import numpy as np

from voxgate.engines.local.turn_detection import TurnEvent

QUIET_MS = 50
"""Quiet that may end the words. At 30 ms the end is heard 20 ms sooner, but dips between
words are quiet that long three to six times as often, and Smart Turn, asked then, doubts
finished questions in Piper's voice (10 of 22 sure, against 18 at 50 ms)."""
WINDOW_MS = 10
QUIET_SHARE = 0.02
"""A window quieter than this share of the utterance's loudest (RMS) holds no words."""
FLOOR_RMS = 60.0
"""A window under this RMS (PCM16) is quiet however soft the speech."""


class LevelMeter:
    """The RMS level of PCM16 audio in ``WINDOW_MS`` windows, relative to the utterance's."""

    def __init__(self, rate: int) -> None:
        self._window = rate * WINDOW_MS // 1000
        self._pending = np.empty(0, dtype=np.float32)
        self._loudest = 0.0
        self._quiet_windows = 0
        self._heard = False  # sound since the last QUIET (or the start)
        self.quiet = False
        """Whether QUIET was the last thing reported."""

    def reset(self) -> None:
        """A new utterance: forget its loudness."""
        self._loudest, self._quiet_windows, self._heard, self.quiet = 0.0, 0, False, False

    def feed(self, pcm: bytes) -> list[TurnEvent]:
        """Take audio; what its level did, in order.

        ``QUIET`` after ``QUIET_MS`` of quiet following sound, ``SOUND`` when sound comes back.
        """
        samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
        pending = np.concatenate((self._pending, samples)) if self._pending.size else samples
        whole = pending.size // self._window * self._window
        self._pending = pending[whole:]
        if not whole:
            return []
        windows = pending[:whole].reshape(-1, self._window)
        levels = np.sqrt(np.mean(windows * windows, axis=1))
        changes: list[TurnEvent] = []
        for level in levels.tolist():
            self._loudest = max(self._loudest, level)
            if level >= max(FLOOR_RMS, QUIET_SHARE * self._loudest):
                self._quiet_windows, self._heard = 0, True
                if self.quiet:
                    self.quiet = False
                    changes.append(TurnEvent.SOUND)
                continue
            self._quiet_windows += 1
            if self._heard and self._quiet_windows * WINDOW_MS >= QUIET_MS:
                self._heard, self.quiet = False, True
                changes.append(TurnEvent.QUIET)
        return changes
