import numpy as np

from voxgate.audio import SAMPLE_RATE, Resampler, trim_silence


def _pcm(*parts: tuple[int, int]) -> bytes:
    """Concatenated (amplitude, milliseconds) runs at 24 kHz."""
    return np.concatenate(
        [np.full(SAMPLE_RATE * ms // 1000, amp, dtype=np.int16) for amp, ms in parts]
    ).tobytes()


def test_trim_silence_keeps_the_asked_quiet_around_speech():
    pcm = _pcm((0, 300), (5000, 100), (0, 400))
    trimmed = trim_silence(pcm, lead_ms=20, tail_ms=50)
    samples = np.frombuffer(trimmed, dtype=np.int16)
    assert len(samples) == SAMPLE_RATE * (20 + 100 + 50) // 1000
    assert samples[: SAMPLE_RATE * 20 // 1000].max() == 0
    assert samples[SAMPLE_RATE * 20 // 1000] == 5000


def test_trim_silence_leaves_short_quiet_and_silence_alone():
    pcm = _pcm((0, 10), (5000, 100), (0, 10))
    assert trim_silence(pcm, lead_ms=20, tail_ms=50) == pcm
    quiet = _pcm((0, 500))
    assert trim_silence(quiet, lead_ms=20, tail_ms=50) == quiet


def test_input_resampler_holds_a_frame_back_at_most_one_frame():
    """The local engine's VAD sees the end of speech no later than the next 20 ms frame."""
    frame = SAMPLE_RATE * 20 // 1000
    resampler = Resampler(SAMPLE_RATE, 16000, quality="LQ")
    out = bytearray()
    for index in range(10, 20):
        chunk = np.zeros(frame, dtype=np.int16)
        if index == 10:
            chunk[-1] = 30000  # the last sample of frame 10
        out += resampler.process(chunk.tobytes())
        if np.abs(np.frombuffer(bytes(out), dtype=np.int16)).max(initial=0) > 1000:
            break
    assert index <= 11
