import numpy as np

from voxgate.engines.local.level import FLOOR_RMS, QUIET_MS, WINDOW_MS, LevelMeter
from voxgate.engines.local.turn_detection import TurnEvent

RATE = 16000


def tone(ms: int, amplitude: float) -> bytes:
    t = np.arange(RATE * ms // 1000) / RATE
    return (np.sin(2 * np.pi * 220 * t) * amplitude).astype(np.int16).tobytes()


def quiet(ms: int) -> bytes:
    return b"\0\0" * (RATE * ms // 1000)


def feed(meter: LevelMeter, pcm: bytes, chunk_ms: int = 20) -> list[tuple[int, TurnEvent]]:
    """(ms of audio fed when it happened, what happened), 20 ms at a time."""
    step = RATE * chunk_ms // 1000 * 2
    changes = []
    for start in range(0, len(pcm), step):
        for change in meter.feed(pcm[start : start + step]):
            changes.append(((start + step) // 2 * 1000 // RATE, change))
    return changes


def test_quiet_after_sound_is_heard_once_it_lasts_quiet_ms():
    meter = LevelMeter(RATE)
    changes = feed(meter, tone(500, 8000) + quiet(300))
    assert [c for _, c in changes] == [TurnEvent.QUIET]
    [(at_ms, _)] = changes
    assert 500 + QUIET_MS <= at_ms <= 500 + QUIET_MS + 20  # at the chunk that completes it
    assert meter.quiet


def test_quiet_before_any_sound_is_nothing():
    assert feed(LevelMeter(RATE), quiet(500)) == []


def test_sound_after_quiet_is_reported_and_a_new_quiet_after_it():
    meter = LevelMeter(RATE)
    changes = feed(meter, tone(300, 8000) + quiet(100) + tone(300, 8000) + quiet(100))
    assert [c for _, c in changes] == [TurnEvent.QUIET, TurnEvent.SOUND, TurnEvent.QUIET]


def test_a_dip_shorter_than_quiet_ms_is_not_quiet():
    gap = QUIET_MS - 2 * WINDOW_MS
    assert feed(LevelMeter(RATE), tone(300, 8000) + quiet(gap) + tone(300, 8000)) == []


def test_quiet_is_relative_to_the_utterance_loudness():
    """A soft last word of a loud utterance is still sound; far under it (yet over the floor
    a soft voice has) is quiet."""
    meter = LevelMeter(RATE)
    assert feed(meter, tone(300, 20000) + tone(200, 1000)) == []  # 26 dB under: a word
    under = tone(200, 300)  # 36 dB under
    assert np.sqrt(np.mean(np.frombuffer(under, dtype=np.int16).astype(float) ** 2)) > FLOOR_RMS
    assert [c for _, c in feed(meter, under)] == [TurnEvent.QUIET]


def test_a_noisy_microphone_is_never_quiet():
    rng = np.random.default_rng(0)
    noise = (rng.normal(0, FLOOR_RMS * 3, RATE)).astype(np.int16).tobytes()
    meter = LevelMeter(RATE)
    assert feed(meter, tone(300, 4000) + noise) == []


def test_several_changes_in_one_chunk_come_in_order():
    meter = LevelMeter(RATE)
    pcm = tone(300, 8000) + quiet(100) + tone(100, 8000) + quiet(100)
    assert meter.feed(pcm) == [TurnEvent.QUIET, TurnEvent.SOUND, TurnEvent.QUIET]


def test_reset_forgets_the_utterance():
    meter = LevelMeter(RATE)
    feed(meter, tone(300, 8000))
    meter.reset()
    assert feed(meter, quiet(200)) == []  # no sound since the reset
