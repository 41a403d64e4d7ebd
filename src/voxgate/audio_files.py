"""Recorded clips in, WAV out: the files of record-and-send, converted once at the edge.

A clip (WAV, WebM/Opus from a browser's MediaRecorder, Ogg/Opus, MP3, MP4/AAC from Safari's,
FLAC) becomes PCM16 mono 24 kHz with PyAV (FFmpeg's demuxers and decoders, libswresample).
Its format is told from its first bytes, never by FFmpeg's probing, so only these demuxers ever
see a client's bytes (FFmpeg's playlist demuxers would open the files a playlist names). Decoding
is bounded by ``max_seconds`` and the whole clip is decoded before anyone uses it, so a bad
file is refused whole: each refusal is an ``AudioFileError`` whose ``code`` says what was wrong.
Blocking: call ``decode_clip`` in a worker thread.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import av
import numpy as np

from voxgate.audio import SAMPLE_RATE

FORMATS = "WAV, WebM/Opus, Ogg/Opus, MP3, MP4/AAC or FLAC"
SILENT_PEAK = 100
"""A clip whose loudest sample is below this (about -50 dBFS) holds nothing to hear."""
TRUNCATED_TOLERANCE_S = 0.25
"""Decoded audio may fall this much short of what the container declares (codec delays)."""


class AudioFileError(ValueError):
    """A clip that cannot be used; ``code`` names the problem for the client.

    ``unsupported_audio_format``, ``invalid_audio_file`` (corrupt or truncated),
    ``audio_too_long``, ``no_audio`` (a valid file without samples), ``silent_audio``.
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def sniff_format(data: bytes) -> str | None:
    """The FFmpeg demuxer for a clip's first bytes, or None for anything else."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"\x1a\x45\xdf\xa3":  # EBML: WebM, Matroska
        return "matroska"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:4] == b"fLaC":
        return "flac"
    if data[4:8] == b"ftyp":
        return "mp4"
    if data[:3] == b"ID3":
        return "mp3"
    if len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0 and (data[1] >> 1) & 3:
        return "mp3"  # an MPEG audio frame (layer bits 00 would be AAC's ADTS)
    return None


def decode_clip(data: bytes, *, max_seconds: float) -> bytes:
    """The clip as PCM16 mono 24 kHz; ``AudioFileError`` when it cannot be used whole."""
    demuxer = sniff_format(data)
    if demuxer is None:
        raise AudioFileError(
            f"the file is not audio voxgate reads: send {FORMATS}", code="unsupported_audio_format"
        )
    if demuxer == "wav":
        _check_wav_length(data)
    elif demuxer == "ogg":
        _check_ogg_end(data)
    try:
        container = av.open(io.BytesIO(data), mode="r", format=demuxer)
    except (av.error.FFmpegError, EOFError) as exc:
        raise _invalid(demuxer, exc) from None
    with container:
        if not container.streams.audio:
            raise AudioFileError(
                f"the {demuxer} file holds no audio stream", code="unsupported_audio_format"
            )
        declared = container.duration / av.time_base if container.duration else None
        if declared is not None and declared > max_seconds + TRUNCATED_TOLERANCE_S:
            raise _too_long(max_seconds)
        pcm = _decode(container, container.streams.audio[0], demuxer, max_seconds)
    seconds = len(pcm) / 2 / SAMPLE_RATE
    if not pcm:
        raise AudioFileError("the file holds no audio samples", code="no_audio")
    if declared is not None and seconds < declared - max(TRUNCATED_TOLERANCE_S, declared / 20):
        raise AudioFileError(
            f"the file is truncated: it declares {declared:.2f} s of audio and holds "
            f"{seconds:.2f} s",
            code="invalid_audio_file",
        )
    if int(np.abs(np.frombuffer(pcm, dtype=np.int16).astype(np.int32)).max()) < SILENT_PEAK:
        raise AudioFileError("the recording is silent: nothing to transcribe", code="silent_audio")
    return pcm


def _decode(container: Any, stream: Any, demuxer: str, max_seconds: float) -> bytes:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    limit = int(max_seconds * SAMPLE_RATE) * 2
    out = bytearray()
    try:
        for frame in container.decode(stream):
            for converted in resampler.resample(frame):
                out += bytes(converted.planes[0])[: converted.samples * 2]
            if len(out) > limit:
                raise _too_long(max_seconds)
        for converted in resampler.resample(None):
            out += bytes(converted.planes[0])[: converted.samples * 2]
    except (av.error.FFmpegError, EOFError) as exc:
        raise _invalid(demuxer, exc) from None
    if len(out) > limit:
        raise _too_long(max_seconds)
    return bytes(out)


def _check_wav_length(data: bytes) -> None:
    """A WAV cut short: FFmpeg would take its length from the file's size and say nothing."""
    (riff_size,) = struct.unpack_from("<I", data, 4)
    if riff_size not in (0, 0xFFFFFFFF) and riff_size + 8 > len(data):  # 0, ~0: still recording
        raise AudioFileError(
            f"the WAV file is truncated: its header declares {riff_size + 8} bytes and it holds "
            f"{len(data)}",
            code="invalid_audio_file",
        )


def _check_ogg_end(data: bytes) -> None:
    """An Ogg file cut at a page boundary: FFmpeg would read it as a shorter clip."""
    last = data.rfind(b"OggS")
    if len(data) < last + 27 or not data[last + 5] & 0x04:  # the end-of-stream page's flag
        raise AudioFileError(
            "the Ogg file is truncated: its last page does not end the stream",
            code="invalid_audio_file",
        )


def _invalid(demuxer: str, exc: BaseException) -> AudioFileError:
    reason = getattr(exc, "strerror", None) or str(exc)
    name = {"matroska": "WebM/Matroska", "mp4": "MP4"}.get(demuxer, demuxer.upper())
    return AudioFileError(
        f"the {name} file is corrupt or truncated ({reason})", code="invalid_audio_file"
    )


def _too_long(max_seconds: float) -> AudioFileError:
    return AudioFileError(
        f"the recording is longer than {max_seconds:g} s: send a shorter one",
        code="audio_too_long",
    )


def wav_header(frames: int | None, *, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A PCM16 mono WAV header; ``frames`` None for a stream whose length is not known yet."""
    size = 0xFFFFFFFF - 36 if frames is None else frames * 2
    return (
        b"RIFF"
        + struct.pack("<I", min(36 + size, 0xFFFFFFFF))
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", size)
    )


def wav_bytes(pcm16: bytes, *, sample_rate: int = SAMPLE_RATE) -> bytes:
    """PCM16 mono as a whole WAV file."""
    return wav_header(len(pcm16) // 2, sample_rate=sample_rate) + pcm16
