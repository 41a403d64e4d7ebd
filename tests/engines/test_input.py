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
