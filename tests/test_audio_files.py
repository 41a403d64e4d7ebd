"""Recorded clips decode to PCM16 24 kHz whole, or are refused whole with a code saying why."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from tests.clips import FORMATS, encode, tone
from voxgate.audio import SAMPLE_RATE
from voxgate.audio_files import AudioFileError, decode_clip, sniff_format, wav_bytes, wav_header


def _refused(data: bytes, **kw: float) -> str:
    with pytest.raises(AudioFileError) as refused:
        decode_clip(data, max_seconds=kw.get("max_seconds", 60))
    assert str(refused.value)
    return refused.value.code


@pytest.mark.parametrize("name", FORMATS)
def test_each_format_decodes_to_the_same_tone_at_24_khz(name):
    pcm = decode_clip(encode(tone(2.0), name), max_seconds=60)
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    assert abs(len(samples) / SAMPLE_RATE - 2.0) < 0.1  # codec delays and padding aside
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / len(samples) - 440) < 5
    assert 4000 < np.abs(samples).max() < 12000  # stereo folded to mono, not summed


@pytest.mark.parametrize("name", ["wav", "webm", "ogg", "mp3", "mp4", "flac"])
def test_a_truncated_file_is_invalid(name):
    data = encode(tone(2.0), name)
    assert _refused(data[: len(data) // 2]) == "invalid_audio_file"


def test_garbage_and_unknown_formats_are_unsupported():
    assert _refused(b"hello, this is not audio at all") == "unsupported_audio_format"
    assert _refused(bytes(4096)) == "unsupported_audio_format"
    assert _refused(b"RIFF\x00\x00\x00\x00AVI LIST") == "unsupported_audio_format"
    assert sniff_format(b"\xff\xf1\x50\x80") is None  # AAC's ADTS sync, not MPEG audio


def test_a_header_with_garbage_after_it_is_invalid():
    assert _refused(b"OggS" + bytes(200)) == "invalid_audio_file"
    assert _refused(b"\x1a\x45\xdf\xa3" + b"\x01" * 300) == "invalid_audio_file"


def test_too_long_is_refused_whether_declared_or_decoded():
    assert _refused(encode(tone(3.0), "webm"), max_seconds=1) == "audio_too_long"
    unknown_length = wav_header(None) + tone(3.0)  # a WAV still being recorded
    assert _refused(unknown_length, max_seconds=1) == "audio_too_long"


def test_silent_and_empty_clips():
    assert _refused(wav_bytes(bytes(SAMPLE_RATE * 2))) == "silent_audio"
    assert _refused(encode(tone(1.0, level=30), "webm")) == "silent_audio"
    assert _refused(wav_bytes(b"")) == "no_audio"


def test_wav_bytes_is_a_wav_file(tmp_path):
    path = tmp_path / "a.wav"
    path.write_bytes(wav_bytes(tone(0.5)))
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, SAMPLE_RATE)
        assert wav.getnframes() == SAMPLE_RATE // 2
