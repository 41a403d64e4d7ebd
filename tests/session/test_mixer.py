"""The mixer on synthetic tones: levels kept, no clipping wrap, no drift over a minute, a late
speaker never holds the others, a lone speaker passes through untouched.

Streams are aligned by arrival: in these tests the first speaker's first frame passes through
alone (nobody else yet), so the second speaker's frame k is mixed with the first's k + 1.
"""

from __future__ import annotations

import numpy as np

from voxgate.audio import SAMPLE_RATE
from voxgate.session.mixer import FRAME_BYTES, FRAME_SAMPLES, QUEUE_MS, Mixer

FRAME_S = FRAME_SAMPLES / SAMPLE_RATE


def tone(hz: float, seconds: float, amplitude: float, *, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    return np.rint(amplitude * 32767 * np.sin(2 * np.pi * hz * t + phase)).astype(np.int16)


def pcm(samples: np.ndarray) -> bytes:
    return samples.astype(np.int16).tobytes()


def samples(chunks: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(chunks), np.int16)


def chunks(audio: np.ndarray, ms: int) -> list[bytes]:
    n = SAMPLE_RATE * ms // 1000
    return [pcm(audio[i : i + n]) for i in range(0, audio.size, n)]


def arrival_sum(a: np.ndarray, b: np.ndarray, lag_frames: int = 1) -> np.ndarray:
    """What is heard when ``b`` lags ``a`` by ``lag_frames`` frames (int32, unclipped)."""
    pad = np.zeros(lag_frames * FRAME_SAMPLES, np.int32)
    return np.concatenate([a.astype(np.int32), pad]) + np.concatenate([pad, b.astype(np.int32)])


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def test_a_lone_speaker_passes_through_as_sent():
    mixer = Mixer()
    chunk = pcm(tone(440, 0.03, 0.5))  # 30 ms: not a whole frame
    out = mixer.push("a", chunk, 0.0)
    assert out == [chunk] and out[0] is chunk  # no copy, no framing
    assert mixer.due() is None


def test_two_streams_mix_to_their_sum_sample_for_sample_over_a_simulated_minute():
    a = tone(440, 60, 0.3)
    b = tone(660, 60, 0.2, phase=1.0)
    mixer = Mixer()
    out: list[bytes] = []
    now = 0.0
    for index, (ca, cb) in enumerate(zip(chunks(a, 20), chunks(b, 20), strict=True)):
        now = index * FRAME_S
        out += mixer.push("a", ca, now)
        out += mixer.push("b", cb, now + 0.005)
    out += mixer.flush()
    mixed = samples(out)
    assert mixed.size == a.size + FRAME_SAMPLES  # no drift: a minute in, a minute (+ b's lag) out
    assert np.array_equal(mixed.astype(np.int32), arrival_sum(a, b))


def test_different_chunk_sizes_stay_aligned():
    a = tone(300, 10, 0.25)
    b = tone(500, 10, 0.25)
    mixer = Mixer()
    out: list[bytes] = []
    b_chunks = chunks(b, 40)  # a WebRTC peer's 40 ms beside a 20 ms WebSocket client
    for index, ca in enumerate(chunks(a, 20)):
        now = index * FRAME_S
        out += mixer.push("a", ca, now)
        if index % 2 == 1:
            out += mixer.push("b", b_chunks[index // 2], now)
    out += mixer.flush()
    # a's first two frames passed alone (b's first 40 ms chunk came after them)
    assert np.array_equal(samples(out).astype(np.int32), arrival_sum(a, b, 2))


def test_a_silent_stream_keeps_the_other_level_exactly():
    speech = tone(220, 2, 0.6)
    mixer = Mixer()
    out: list[bytes] = []
    for index, chunk in enumerate(chunks(speech, 20)):
        out += mixer.push("talker", chunk, index * FRAME_S)
        out += mixer.push("quiet", bytes(FRAME_BYTES), index * FRAME_S)
    heard = samples(out + mixer.flush())
    assert np.array_equal(heard[: speech.size], speech)
    assert not heard[speech.size :].any()  # the quiet one's last frame
    assert abs(rms(heard[: speech.size]) - rms(speech)) < 1e-9


def test_loud_streams_clip_instead_of_wrapping():
    a = tone(100, 1, 0.9)
    b = tone(100, 1, 0.9)  # in phase: the sum is 1.8 x full scale
    mixer = Mixer()
    out: list[bytes] = []
    for index, (ca, cb) in enumerate(zip(chunks(a, 20), chunks(b, 20), strict=True)):
        out += mixer.push("a", ca, index * FRAME_S)
        out += mixer.push("b", cb, index * FRAME_S)
    mixed = samples(out + mixer.flush()).astype(np.int32)
    total = arrival_sum(a, b)  # 100 Hz: one frame later is still in phase
    assert mixed.max() == 32767 and mixed.min() == -32768
    assert np.array_equal(mixed, np.clip(total, -32768, 32767))  # a wrap would flip signs
    assert np.all(np.sign(mixed) == np.sign(total))


def test_gain_scales_one_speaker():
    a = tone(440, 1, 0.4)
    b = np.zeros_like(a)
    mixer = Mixer()
    mixer.set_gain("a", 0.5)
    out: list[bytes] = []
    for index, (ca, cb) in enumerate(zip(chunks(a, 20), chunks(b, 20), strict=True)):
        out += mixer.push("a", ca, index * FRAME_S)
        out += mixer.push("b", cb, index * FRAME_S)
    mixed = samples(out + mixer.flush())[: a.size]
    assert np.max(np.abs(mixed.astype(np.int32) - np.rint(a * 0.5))) <= 1
    alone = Mixer()
    alone.set_gain("a", 2.0)
    (loud,) = alone.push("a", pcm(tone(440, 0.02, 0.9)), 0.0)
    assert np.frombuffer(loud, np.int16).max() == 32767  # clipped on the pass-through too


def test_a_stalled_speaker_does_not_hold_the_others():
    mixer = Mixer()
    talker = [pcm(np.full(FRAME_SAMPLES, i + 1, np.int16)) for i in range(50)]
    out = mixer.push("talker", talker[0], 0.0)
    out += mixer.push("stalled", bytes(FRAME_BYTES), 0.001)  # one frame, then nothing
    for index in range(1, 50):
        now = index * FRAME_S
        out += mixer.push("talker", talker[index], now)
        due = mixer.due()
        if due is not None and due <= now:
            out += mixer.pull(now)
    out += mixer.pull(50 * FRAME_S)
    # everything the talker said arrived, in order, none of it waiting for the stalled one
    values = [int(np.frombuffer(frame, np.int16)[0]) for frame in out]
    values = [v for v in values if v]
    assert values == list(range(1, 51))
    assert mixer.due() is None


def test_only_the_clock_gives_up_on_a_speaker_and_a_stalled_clock_waits_again():
    mixer = Mixer()
    mixer.push("a", bytes(FRAME_BYTES), 0.0)
    mixer.push("b", bytes(FRAME_BYTES), 0.0)  # waits for "a"
    assert mixer.push("b", bytes(FRAME_BYTES), 5.0) == []  # long after: still waits
    mixer.wait_afresh(5.0)  # the loop stalled: "a"'s audio may be unread
    assert mixer.pull(5.001) == []
    assert len(mixer.push("a", bytes(FRAME_BYTES), 5.002)) == 1  # it was: nothing lost
    due = mixer.due()
    assert due is not None and due > 5.002
    assert len(mixer.pull(due)) == 1  # then the clock gives up on it


def test_the_clock_releases_a_frame_that_waited_for_a_late_speaker():
    mixer = Mixer()
    assert mixer.push("a", pcm(tone(440, 0.02, 0.3)), 0.0)  # alone: passed through
    assert mixer.push("b", bytes(FRAME_BYTES), 0.01) == []  # waits for "a"'s next frame
    due = mixer.due()
    assert due is not None and due > 0.01
    assert mixer.pull(due - 0.001) == []
    (frame,) = mixer.pull(due)
    assert frame == bytes(FRAME_BYTES)  # "a" counted as silence
    # "a" is back: mixed with "b"'s next frame, where its audio stands
    assert mixer.push("a", pcm(tone(440, 0.02, 0.3)), due + 0.01) == []
    assert len(mixer.push("b", bytes(FRAME_BYTES), due + 0.015)) == 1


def test_a_quiet_burst_is_bounded_and_caught_up():
    mixer = Mixer()
    mixer.push("steady", bytes(FRAME_BYTES), 0.0)
    mixer.push("burst", bytes(FRAME_BYTES), 0.0)
    # a stall's backlog arrives at once: 3 s, more than the queue holds
    mixer.push("burst", pcm(np.ones(SAMPLE_RATE * 3, np.int16)), 0.01)
    assert mixer.dropped_ms("burst") >= 3000 - QUEUE_MS
    for index in range(1, 300):
        mixer.push("steady", bytes(FRAME_BYTES), index * FRAME_S)
        mixer.push("burst", bytes(FRAME_BYTES), index * FRAME_S)
    # the lasting surplus beyond two frames was quiet, and dropped: no lasting delay
    assert len(mixer._streams["burst"].queue) <= 3 * FRAME_BYTES


def test_speech_behind_the_others_is_delayed_never_dropped():
    mixer = Mixer()
    mixer.push("steady", bytes(FRAME_BYTES), 0.0)
    mixer.push("talker", bytes(FRAME_BYTES), 0.0)
    speech = tone(300, 1, 0.3, phase=0.5)  # no zero sample at its start
    mixer.push("talker", pcm(speech), 0.01)  # a second of speech, 50 frames behind
    out: list[bytes] = []
    for index in range(1, 200):
        out += mixer.push("steady", bytes(FRAME_BYTES), index * FRAME_S)
        out += mixer.push("talker", bytes(FRAME_BYTES), index * FRAME_S)
    heard = samples(out)
    start = int(np.flatnonzero(heard)[0])
    assert np.array_equal(heard[start : start + speech.size], speech)  # all of it, in one piece
    # the quiet surplus behind it went: no lasting delay
    assert mixer.dropped_ms("talker") > 0
    assert len(mixer._streams["talker"].queue) <= 3 * FRAME_BYTES


def test_flush_sends_everything_and_pads_short_tails():
    mixer = Mixer()
    mixer.push("a", bytes(FRAME_BYTES), 0.0)
    mixer.push("b", pcm(np.full(FRAME_SAMPLES + 100, 7, np.int16)), 0.0)
    out = mixer.flush()
    assert len(b"".join(out)) == 2 * FRAME_BYTES
    tail = np.frombuffer(out[-1], np.int16)
    assert list(tail[:100]) == [7] * 100 and not tail[100:].any()
    assert mixer.due() is None and mixer.flush() == []


def test_levels_and_speaking_are_measured_only_when_asked():
    changes: list[tuple[str, bool]] = []
    mixer = Mixer(on_speaking=lambda key, on: changes.append((key, on)))
    loud = chunks(tone(300, 1, 0.3), 20)
    for index, chunk in enumerate(loud[:10]):
        mixer.push("a", chunk, index * FRAME_S)
    assert mixer.level("a") == 0.0 and not changes
    mixer.measure = True
    for index, chunk in enumerate(loud[10:]):
        mixer.push("a", chunk, index * FRAME_S)
        mixer.push("b", bytes(FRAME_BYTES), index * FRAME_S)
    assert 0.15 < mixer.level("a") < 0.25  # a sine's RMS: 0.3 / sqrt(2)
    assert changes == [("a", True)]
    for index in range(50):
        mixer.push("a", bytes(FRAME_BYTES), index * FRAME_S)
        mixer.push("b", bytes(FRAME_BYTES), index * FRAME_S)
    assert changes == [("a", True), ("a", False)]
    assert mixer.level("a") == 0.0


def test_removing_a_speaker_releases_frames_that_waited_for_it():
    mixer = Mixer()
    mixer.push("a", bytes(FRAME_BYTES), 0.0)
    assert mixer.push("b", pcm(np.full(FRAME_SAMPLES, 5, np.int16)), 0.0) == []
    mixer.remove("a")
    (frame,) = mixer.pull(0.001)
    assert set(np.frombuffer(frame, np.int16)) == {5}
