import numpy as np

from voxgate.engines.local.input import ONSET_MS, InputAudio
from voxgate.engines.local.turn_detection import TurnEvent

RATE = 16000


class LoudVAD:
    """Speech wherever the frame is loud: a detector with no lag of its own, or ``late`` frames."""

    frame_samples = 512

    def __init__(self, late: int = 0) -> None:
        self.late = late
        self._loud = 0

    def speech_probability(self, frame: bytes) -> float:
        loud = np.abs(np.frombuffer(frame, dtype=np.int16)).max() > 1000
        self._loud = self._loud + 1 if loud else 0
        return 0.9 if self._loud > self.late else 0.0

    def reset(self) -> None:
        self._loud = 0


def speak(audio: InputAudio, pcm24: bytes) -> list[TurnEvent]:
    changes = []
    for start in range(0, len(pcm24), 960):  # 20 ms frames, as a microphone sends them
        for change in audio.append(pcm24[start : start + 960]):
            if change is TurnEvent.SPEECH_STARTED:
                audio.speech_started()
            changes.append(change)
    return changes


def test_the_turn_keeps_the_start_of_speech_the_vad_heard_late():
    """Silero is up to ~320 ms late on a soft onset; the turn still holds the first word."""
    late = 10  # frames of 32 ms: 320 ms
    audio = InputAudio(lambda: LoudVAD(late=late), RATE)
    audio.configure((0.5, 500, 300))
    quiet = b"\0\0" * 24000 * 2  # 2 s
    rng = np.random.default_rng(0)
    word = (rng.uniform(-0.5, 0.5, 24000) * 32767).astype(np.int16).tobytes()  # 1 s
    changes = speak(audio, quiet + word)
    assert TurnEvent.SPEECH_STARTED in changes
    held = np.frombuffer(bytes(audio.buffer), dtype=np.int16)
    loud = np.nonzero(np.abs(held) > 1000)[0]
    # all of the speech so far, and quiet before it: 300 ms of padding beyond the VAD's delay
    assert loud.size and (len(held) - loud[0]) / RATE >= 0.95
    assert loud[0] / RATE >= 0.3 + ONSET_MS / 1000 - late * 0.032 - 0.04


class FadingVAD(LoudVAD):
    """Speech while loud and ``tail`` frames after, as Silero's probability fades slowly."""

    def __init__(self, tail: int) -> None:
        super().__init__()
        self.tail, self._since_loud = tail, tail + 1

    def speech_probability(self, frame: bytes) -> float:
        loud = np.abs(np.frombuffer(frame, dtype=np.int16)).max() > 1000
        self._since_loud = 0 if loud else self._since_loud + 1
        return 0.9 if self._since_loud <= self.tail else 0.0


def _noise(ms: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return (rng.uniform(-0.5, 0.5, 24 * ms) * 32767).astype(np.int16).tobytes()


def _quiet(ms: int) -> bytes:
    return b"\0\0" * 24 * ms


def test_the_level_hears_the_words_stop_before_a_late_vad_hears_the_pause():
    audio = InputAudio(lambda: FadingVAD(tail=3), RATE)
    audio.configure((0.5, 500, 300))
    changes = []
    pcm = _quiet(1000) + _noise(1000) + _quiet(1000)
    for start in range(0, len(pcm), 960):
        for change in audio.append(pcm[start : start + 960]):
            if change is TurnEvent.SPEECH_STARTED:
                audio.speech_started()
            changes.append(((start + 960) // 48, change))
    assert [c for _, c in changes] == [
        TurnEvent.SPEECH_STARTED,
        TurnEvent.QUIET,
        TurnEvent.PAUSED,
        TurnEvent.SPEECH_STOPPED,
    ]
    (quiet_at, _), (paused_at, _) = changes[1], changes[2]
    # 50 ms of quiet, at the 20 ms frame completing it, and the resampler's delay
    assert 2050 <= quiet_at <= 2090
    assert paused_at - quiet_at >= 50  # the VAD heard three 32 ms frames of "speech" more


def test_sound_before_the_vad_pauses_is_reported():
    """A dip between words: quiet to the level, never a pause to the VAD."""
    audio = InputAudio(lambda: FadingVAD(tail=3), RATE)
    audio.configure((0.5, 2000, 300))
    changes = speak(audio, _quiet(500) + _noise(500) + _quiet(60) + _noise(500) + _quiet(300))
    assert changes == [
        TurnEvent.SPEECH_STARTED,
        TurnEvent.QUIET,
        TurnEvent.SOUND,
        TurnEvent.QUIET,
        TurnEvent.PAUSED,
    ]


def test_after_the_vad_pauses_the_vad_alone_says_whether_speech_resumed():
    audio = InputAudio(lambda: FadingVAD(tail=0), RATE)
    audio.configure((0.5, 2000, 300))
    changes = speak(audio, _quiet(500) + _noise(500) + _quiet(300) + _noise(300) + _quiet(100))
    assert TurnEvent.SOUND not in changes
    assert changes[:5] == [
        TurnEvent.SPEECH_STARTED,
        TurnEvent.QUIET,
        TurnEvent.PAUSED,
        TurnEvent.RESUMED,
        TurnEvent.QUIET,
    ]


def test_a_soft_sound_the_vad_calls_silence_is_not_quiet_to_the_level():
    """The "f" of "What | food": the VAD (here: nothing under 1000 is speech) hears silence."""
    audio = InputAudio(lambda: FadingVAD(tail=0), RATE)
    audio.configure((0.5, 2000, 300))
    soft = (np.frombuffer(_noise(300, seed=2), dtype=np.int16) // 40).tobytes()  # ~ -32 dB
    speak(audio, _quiet(500) + _noise(500) + soft)
    assert audio.vad is not None and audio.vad.silence_start_ms is not None  # the VAD: silence
    assert not audio.quiet  # the level: sound
    speak(audio, _quiet(100))
    assert audio.quiet
