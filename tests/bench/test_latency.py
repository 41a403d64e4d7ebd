import pytest

from voxgate.audio import SAMPLE_RATE
from voxgate.bench.latency import _figures, _over_webrtc, _over_websocket, _playback_gaps_ms

CHUNK = SAMPLE_RATE * 2 // 10  # 100 ms of PCM16


def test_audio_arriving_ahead_of_playback_leaves_no_gap():
    assert _playback_gaps_ms([(0.0, CHUNK), (0.01, CHUNK), (0.15, CHUNK)]) == 0.0


def test_audio_arriving_after_the_earlier_audio_played_out_is_a_gap():
    # 200 ms of audio from t=0, then the next chunk only at t=0.5: 300 ms of silence heard
    gaps = _playback_gaps_ms([(0.0, CHUNK), (0.0, CHUNK), (0.5, CHUNK), (0.65, CHUNK)])
    assert round(gaps) == 300 + 50


@pytest.mark.e2e
async def test_a_spoken_turn_is_measured_over_each_transport(server_url):
    question = ["What is the capital of France?"]
    over_ws = await _over_websocket(server_url, question, conversations=1)
    over_rtc = await _over_webrtc(server_url.replace("ws://", "http://"), question)
    for [turn] in (over_ws, over_rtc):
        assert "capital" in turn.heard.lower()
        assert turn.v2v_ms is not None and 0 < turn.v2v_ms < 10_000
    assert over_ws[0].gaps_ms is not None and over_rtc[0].gaps_ms is None
    figures = _figures(over_ws + over_rtc)
    assert figures["utterances"] == 2 and figures["no_audio"] == 0
    assert "playback_gaps_p50_ms" in figures and figures["wer"] < 0.5
