"""Voice activity detection: a speech probability per fixed-size frame."""

from __future__ import annotations

from typing import Protocol


class VoiceActivityDetector(Protocol):
    """Stateful per stream; frames are PCM16 mono at ``sample_rate``, ``frame_samples`` long."""

    sample_rate: int
    frame_samples: int

    def speech_probability(self, frame: bytes) -> float:
        """Probability in [0, 1] that ``frame`` holds speech."""
        ...

    def reset(self) -> None:
        """Forget the stream so far."""
        ...
