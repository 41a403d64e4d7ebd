"""End of turn: has the user finished their thought, judged from the sound of it."""

from __future__ import annotations

from typing import Protocol


class EndOfTurnModel(Protocol):
    """Blocking and thread-safe: the engine calls it from a worker thread, sessions share it."""

    sample_rate: int

    def probability(self, pcm16: bytes) -> float:
        """Probability in [0, 1] that the user's utterance (PCM16 mono) ends a turn."""
        ...
