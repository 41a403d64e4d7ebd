"""The local engine's input audio: the uncommitted buffer at the STT rate, and the VAD over it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from voxgate.audio import SAMPLE_RATE, Resampler
from voxgate.components.vad import VoiceActivityDetector
from voxgate.engines.local.level import LevelMeter
from voxgate.engines.local.turn_detection import ServerVAD, TurnEvent

ONSET_MS = 350
"""How late the VAD may hear speech begin, kept before its start beside ``prefix_padding_ms``.

Silero's probability stays under the threshold through a soft onset ("What food", "Hi"): over
210 espeak utterances it was late by 59 ms (median), 239 ms (p99), 324 ms at most. A turn cut
there lost its first word ("What's the weather like in Tokyo today?" was heard as "But
whenever I can talk you to me."). Quiet before speech costs Whisper nothing: it keeps 300 ms.
"""


class InputAudio:
    """Client audio resampled for the models, buffered until committed, and fed to the VAD.

    A level meter beside the VAD reports where the words may have stopped (``QUIET``) before
    the VAD hears the pause, and sound coming back before it does (``SOUND``).
    """

    def __init__(self, new_vad: Callable[[], VoiceActivityDetector], rate: int) -> None:
        # soxr's low-quality filter delays by ~20 ms less than its default, and speech
        # recognition and VAD are as accurate on it (measured); the delay is on every turn's end
        self._resampler = Resampler(SAMPLE_RATE, rate, quality="LQ")
        self.rate = rate
        self._detector = new_vad()
        self._frame_bytes = self._detector.frame_samples * 2
        self._meter = LevelMeter(rate)
        self.vad: ServerVAD | None = None
        """Turn detection over the stream (None: the client commits)."""
        self._pending = bytearray()  # resampled audio not yet a whole VAD frame
        self.buffer = bytearray()
        """The uncommitted input audio buffer, PCM16 at ``rate``."""
        self.end_samples = 0
        """Input samples (at ``rate``) received so far."""

    def configure(self, settings: tuple[float, int, int] | None) -> None:
        """Threshold, silence and prefix padding of the VAD, or None for none."""
        if settings is None:
            self.vad = None
        elif self.vad is None or settings != (
            self.vad.threshold,
            self.vad.silence_duration_ms,
            self.vad.prefix_padding_ms,
        ):
            self.vad = ServerVAD(*settings)
            self._detector.reset()
            self._meter.reset()

    def ms(self, samples: int) -> float:
        """``samples`` at ``rate``, in milliseconds."""
        return samples * 1000 / self.rate

    @property
    def end_ms(self) -> float:
        """How much input audio has arrived."""
        return self.ms(self.end_samples)

    @property
    def spoken_until_ms(self) -> float:
        """Where speech was last heard: where the silence began, or now."""
        vad = self.vad
        silent_from = None if vad is None else vad.silence_start_ms
        return self.end_ms if silent_from is None else silent_from

    @property
    def _lead_ms(self) -> float:
        """Audio kept before the VAD's start of speech: the prefix padding and its delay."""
        assert self.vad is not None
        return self.vad.prefix_padding_ms + ONSET_MS

    @property
    def quiet(self) -> bool:
        """Whether the level has been quiet since the last sound (``level.QUIET_MS``)."""
        return self._meter.quiet

    @property
    def buffered_ms(self) -> float:
        """How much audio the buffer holds."""
        return self.ms(len(self.buffer) // 2)

    def append(self, pcm24: bytes) -> Iterator[TurnEvent]:
        """Take client audio (24 kHz); yields each turn event as the frame that makes it passes.

        The caller acts on an event (commits, say) before the next frame is looked at.
        """
        pcm = self._resampler.process(pcm24)
        self.buffer += pcm
        self.end_samples += len(pcm) // 2
        if self.vad is None:
            return
        yield from self._level(pcm)
        self._pending += pcm
        frame_bytes = self._frame_bytes
        frame_end = self.end_samples - len(self._pending) // 2
        while len(self._pending) >= frame_bytes:
            frame = bytes(self._pending[:frame_bytes])
            del self._pending[:frame_bytes]
            frame_start, frame_end = frame_end, frame_end + frame_bytes // 2
            change = self.vad.process(
                self._detector.speech_probability(frame), self.ms(frame_start), self.ms(frame_end)
            )
            if change is not None:
                yield change
            if self.vad is None:
                return
        if not self.vad.speaking:
            keep = int(self._lead_ms * self.rate / 1000) * 2 + len(self._pending)
            if len(self.buffer) > keep:
                del self.buffer[: len(self.buffer) - keep]

    def _level(self, pcm: bytes) -> Iterator[TurnEvent]:
        """QUIET and SOUND inside speech the VAD has not yet heard pause."""
        for change in self._meter.feed(pcm):
            vad = self.vad
            if vad is not None and vad.speaking and vad.silence_start_ms is None:
                yield change

    def speech_started(self) -> None:
        """Drop what came before the speech's start less the prefix padding (and ``ONSET_MS``)."""
        assert self.vad is not None
        buffer_start_ms = self.ms(self.end_samples - len(self.buffer) // 2)
        start_ms = max(self.vad.speech_start_ms - self._lead_ms, buffer_start_ms)
        del self.buffer[: int((start_ms - buffer_start_ms) * self.rate / 1000) * 2]
        self._meter.reset()

    def take(self) -> bytes:
        """The buffer's audio, emptied; turn detection starts over."""
        audio = bytes(self.buffer)
        self.clear()
        return audio

    def clear(self) -> None:
        """Empty the buffer; turn detection starts over."""
        self.buffer.clear()
        self._meter.reset()
        if self.vad is not None:
            self.vad.reset()

    def trim_to(self, max_ms: float) -> bool:
        """Keep at most ``max_ms`` (the newest); whether anything was dropped."""
        excess = len(self.buffer) - int(max_ms * self.rate / 1000) * 2
        if excess <= 0:
            return False
        del self.buffer[:excess]
        return True
