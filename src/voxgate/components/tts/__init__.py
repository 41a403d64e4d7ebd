"""Text to speech: a phrase in, PCM16 chunks out as they are synthesized.

Two shapes: ``TextToSpeech`` is blocking (Piper, in-process); ``StreamingTextToSpeech`` is
asynchronous and speaks a reply as one ``SpeechContext`` (a remote service such as Cartesia,
whose prosody runs across the reply's phrases). ``streaming()`` gives a blocking one the
asynchronous shape, so a consumer drives both the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Protocol, runtime_checkable


class TTSError(Exception):
    """Speech could not be made (service refused, unreachable, or reported an error)."""


class TextToSpeech(Protocol):
    """Blocking and thread-safe: the engine iterates it in a worker thread, sessions share it."""

    sample_rate: int

    def synthesize(self, text: str, *, speed: float = 1.0) -> Iterator[bytes]:
        """PCM16 mono chunks at ``sample_rate`` for ``text``; ``speed`` 0.5 takes twice as long."""
        ...


class SpeechContext(Protocol):
    """One reply's speech: its phrases in order, each phrase's audio as it arrives."""

    def speak(self, text: str) -> AsyncIterator[bytes]:
        """PCM16 chunks for the next phrase as they come; raises ``TTSError``."""
        ...

    def cancel(self) -> None:
        """Stop now (barge-in): nothing more of this context is played."""
        ...

    def end(self) -> None:
        """No more phrases will follow."""
        ...


@runtime_checkable
class StreamingTextToSpeech(Protocol):
    """Asynchronous TTS: one ``SpeechContext`` per reply, used from the event loop."""

    sample_rate: int

    def context(self, *, speed: float = 1.0) -> SpeechContext:
        """A fresh context for the next reply, spoken at ``speed`` (the voice's own pace: 1.0)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class _ThreadContext:
    def __init__(self, tts: TextToSpeech, speed: float) -> None:
        self._tts = tts
        self._speed = speed

    async def speak(self, text: str) -> AsyncIterator[bytes]:
        chunks = iter(self._tts.synthesize(text, speed=self._speed))
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            yield chunk

    def cancel(self) -> None:
        pass  # the caller stops iterating; nothing runs beyond the current chunk

    def end(self) -> None:
        pass


class ThreadedTTS:
    """A blocking ``TextToSpeech`` as a ``StreamingTextToSpeech`` (chunks made in a thread)."""

    def __init__(self, tts: TextToSpeech) -> None:
        self._tts = tts
        self.sample_rate = tts.sample_rate

    def context(self, *, speed: float = 1.0) -> SpeechContext:
        """A context whose phrases are synthesized one chunk at a time in a worker thread."""
        return _ThreadContext(self._tts, speed)

    async def aclose(self) -> None:
        """Nothing to release: the blocking TTS is shared."""


def streaming(tts: TextToSpeech | StreamingTextToSpeech) -> StreamingTextToSpeech:
    """``tts`` in the asynchronous shape."""
    if isinstance(tts, StreamingTextToSpeech):
        return tts
    return ThreadedTTS(tts)
