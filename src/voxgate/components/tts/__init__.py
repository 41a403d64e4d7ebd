"""Text to speech: a phrase in, PCM16 chunks out as they are synthesized."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol


class TextToSpeech(Protocol):
    """Blocking and thread-safe: the engine iterates it in a worker thread, sessions share it."""

    sample_rate: int

    def synthesize(self, text: str) -> Iterator[bytes]:
        """PCM16 mono chunks at ``sample_rate`` for ``text``."""
        ...
