from voxgate.audio import resample
from voxgate.components.vad.silero import SileroVAD


def frames(pcm16k: bytes) -> list[bytes]:
    return [pcm16k[i : i + 1024] for i in range(0, len(pcm16k) - 1023, 1024)]


def test_speech_scores_high_and_silence_low(speech):
    vad = SileroVAD()
    pcm = resample(speech("The quick brown fox jumps over the lazy dog."), 24000, 16000)
    probabilities = [vad.speech_probability(f) for f in frames(pcm)]
    assert max(probabilities) > 0.9
    vad.reset()
    assert max(vad.speech_probability(f) for f in frames(b"\0" * 32000)) < 0.1


def test_streams_keep_separate_state(speech):
    pcm = resample(speech("Hello there, how are you today?"), 24000, 16000)
    a, b = SileroVAD(), SileroVAD()
    for f in frames(pcm)[:20]:
        a.speech_probability(f)
    # b has heard nothing: silence is silence to it, whatever a has heard
    assert b.speech_probability(b"\0" * 1024) < 0.1
