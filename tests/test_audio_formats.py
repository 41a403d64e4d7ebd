from __future__ import annotations

import warnings

import numpy as np
import pytest

from voxgate.audio_formats import AudioDecoder, AudioEncoder, AudioFormat
from voxgate.protocol import ProtocolError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the reference G.711 codec


def tone(ms: int, rate: int, hz: float = 440.0) -> bytes:
    t = np.arange(rate * ms // 1000) / rate
    return (np.sin(2 * np.pi * hz * t) * 8000).astype("<i2").tobytes()


@pytest.mark.parametrize(
    ("type_", "reference"), [("audio/pcmu", audioop.lin2ulaw), ("audio/pcma", audioop.lin2alaw)]
)
def test_g711_encoding_matches_the_reference_codec(type_, reference):
    encoder = AudioEncoder(AudioFormat(type_))
    pcm24k = tone(500, 24000)
    wire = b"".join(encoder.encode(pcm24k[i : i + 4800]) for i in range(0, len(pcm24k), 4800))
    assert 3850 <= len(wire) <= 4000  # 8000 one-byte samples a second, less the filter's delay
    decoded = np.frombuffer(
        audioop.ulaw2lin(wire, 2) if type_ == "audio/pcmu" else audioop.alaw2lin(wire, 2), "<i2"
    )
    # the same samples, coded by CPython's G.711, give the same bytes
    assert reference(decoded.tobytes(), 2) == wire


@pytest.mark.parametrize("type_", ["audio/pcmu", "audio/pcma"])
def test_g711_decoding_returns_24k_pcm_of_the_same_tone(type_):
    pcm8k = tone(500, 8000)
    wire = audioop.lin2ulaw(pcm8k, 2) if type_ == "audio/pcmu" else audioop.lin2alaw(pcm8k, 2)
    decoder = AudioDecoder(AudioFormat(type_))
    pcm24k = np.frombuffer(
        b"".join(decoder.decode(wire[i : i + 160]) for i in range(0, len(wire), 160)), "<i2"
    )
    assert 11600 <= len(pcm24k) <= 12000  # less the filter's delay (12.5 ms)
    spectrum = np.abs(np.fft.rfft(pcm24k.astype(float)))
    assert abs(np.argmax(spectrum) * 24000 / len(pcm24k) - 440) < 10


def test_unsupported_formats_are_refused_by_name():
    assert AudioFormat.from_spec({"type": "audio/pcmu"}, param="f").to_spec() == {
        "type": "audio/pcmu"
    }
    assert AudioFormat.from_spec({}, param="f").to_spec() == {"type": "audio/pcm", "rate": 24000}
    with pytest.raises(ProtocolError) as refused:
        AudioFormat.from_spec({"type": "audio/opus"}, param="session.audio.input.format")
    assert refused.value.param == "session.audio.input.format.type"
    with pytest.raises(ProtocolError):
        AudioFormat.from_spec({"type": "audio/pcm", "rate": 16000}, param="f")
    with pytest.raises(ProtocolError):
        AudioDecoder(AudioFormat()).decode(b"\x00")
