"""Speech to text: one finished utterance in, its transcript out."""

from __future__ import annotations

from typing import Protocol


class SpeechToText(Protocol):
    """Blocking and thread-safe: the engine calls it from a worker thread, sessions share it."""

    sample_rate: int

    def transcribe(self, pcm16: bytes, *, prompt: str = "") -> str:
        """Transcript of PCM16 mono audio at ``sample_rate``.

        ``prompt`` (the GA ``audio.input.transcription.prompt``) is text the speech is likely
        to use: domain words, names, spellings.
        """
        ...
