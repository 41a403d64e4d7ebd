from voxgate.audio import SAMPLE_RATE
from voxgate.bench.latency import _playback_gaps_ms

CHUNK = SAMPLE_RATE * 2 // 10  # 100 ms of PCM16


def test_audio_arriving_ahead_of_playback_leaves_no_gap():
    assert _playback_gaps_ms([(0.0, CHUNK), (0.01, CHUNK), (0.15, CHUNK)]) == 0.0


def test_audio_arriving_after_the_earlier_audio_played_out_is_a_gap():
    # 200 ms of audio from t=0, then the next chunk only at t=0.5: 300 ms of silence heard
    gaps = _playback_gaps_ms([(0.0, CHUNK), (0.0, CHUNK), (0.5, CHUNK), (0.65, CHUNK)])
    assert round(gaps) == 300 + 50
