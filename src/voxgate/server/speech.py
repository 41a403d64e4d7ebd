"""The server's own voice, for any text (``/api/voice/tts``): Piper, loaded once per process.

The local engine's Piper (``LocalModels.tts``), or engine ``openai``'s when it voices replies
with Piper, is handed over at start-up; any other server loads the bundled voice on first use.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import nullcontext

from voxgate.audio import SAMPLE_RATE, Resampler
from voxgate.components.priority import Foreground
from voxgate.components.tts import TextToSpeech


class ServerVoice:
    """Speaks text as PCM16 24 kHz, chunk by chunk as Piper makes them (a sentence each)."""

    def __init__(self, voice: str) -> None:
        self.voice = voice
        """The voice's name (the only one the server has)."""
        self._tts: TextToSpeech | None = None
        self._foreground: Foreground | None = None
        self._loading = asyncio.Lock()

    def provide(self, tts: TextToSpeech, foreground: Foreground | None = None) -> None:
        """Use a voice already loaded; ``foreground``: synthesis goes before token generation."""
        self._tts, self._foreground = tts, foreground

    async def load(self) -> TextToSpeech:
        """The voice, loaded now if it was not (a few seconds, in a worker thread)."""
        async with self._loading:
            if self._tts is None:
                from voxgate.components.tts.piper import PiperTTS

                self._tts = await asyncio.to_thread(PiperTTS)
        return self._tts

    async def speak(self, text: str) -> AsyncIterator[bytes]:
        """PCM16 24 kHz for ``text``, each chunk as soon as it is synthesized."""
        tts = await self.load()
        resampler = Resampler(tts.sample_rate, SAMPLE_RATE)
        chunks = iter(tts.synthesize(text))
        while (chunk := await asyncio.to_thread(self._next, chunks)) is not None:
            if pcm := resampler.process(chunk):
                yield pcm
        if tail := resampler.process(b"", last=True):
            yield tail

    def _next(self, chunks: Iterator[bytes]) -> bytes | None:
        with self._foreground.hold() if self._foreground is not None else nullcontext():
            return next(chunks, None)
