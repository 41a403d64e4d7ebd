"""Incoming Opus decoded in the event loop: no thread per receiver, audio intact, bad packets skipped."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
from aiortc.jitterbuffer import JitterFrame

from tests.conftest import serve_app
from voxgate.rtc_client import RtcClient
from voxgate.server.app import create_app
from voxgate.settings import Settings
from voxgate.transports.rtc_decode import InlineDecoder, MonoOpusDecoder
from voxgate.transports.rtc_media import FRAME_MS, encode_opus

pytestmark = pytest.mark.e2e


def tone(ms: int) -> bytes:
    t = np.arange(24 * ms) / 24000
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16).tobytes()


def test_inline_decoder_keeps_order_and_skips_bad_packets():
    out: asyncio.Queue = asyncio.Queue()
    error = threading.Event()
    decoder = InlineDecoder(out, error)
    opus = type("Codec", (), {"name": "opus"})()
    packets = encode_opus(tone(200))
    assert len(packets) == 200 // FRAME_MS
    for i, packet in enumerate(packets[:2]):
        decoder.put((opus, JitterFrame(data=packet, timestamp=i * 1920)))
    decoder.put((opus, JitterFrame(data=b"\xff\xff\xff", timestamp=2 * 1920)))  # not Opus
    assert error.is_set()
    decoder.put((opus, JitterFrame(data=b"", timestamp=3 * 1920)))  # empty: nothing, no harm
    for i, packet in enumerate(packets[2:], start=4):
        decoder.put((opus, JitterFrame(data=packet, timestamp=i * 1920)))
    decoder.put(None)
    frames = []
    while (frame := out.get_nowait()) is not None:
        frames.append(frame)
    assert len(frames) == len(packets)
    assert [f.pts for f in frames] == [0, 1920, 4 * 1920, 5 * 1920, 6 * 1920]
    assert {(f.sample_rate, f.layout.name, f.samples) for f in frames} == {(48000, "mono", 1920)}
    loud = np.concatenate([f.to_ndarray()[0] for f in frames[1:]]) * 32768
    assert np.sqrt(np.mean(loud**2)) > 3000  # the tone (amplitude 8000), not silence


def test_mono_decoder_decodes_the_track_packets():
    frames = [
        f
        for p in encode_opus(tone(400))
        for f in MonoOpusDecoder().decode(JitterFrame(data=p, timestamp=0))
    ]
    assert sum(f.samples for f in frames) == 48 * 400


async def test_a_call_decodes_without_decoder_threads():
    settings = Settings(_env_file=None, engine="loopback", agents="none")  # type: ignore[call-arg]
    app = create_app(settings)
    packets = encode_opus(tone(1500))
    async with serve_app(app) as port, RtcClient(f"http://127.0.0.1:{port}") as client:
        client.speak_opus(packets)
        await asyncio.sleep(2.5)
        threads = [t.name for t in threading.enumerate()]
    assert not [name for name in threads if name.endswith("-decoder")]
    # both receivers (the server's and the client's) decoded inline: the tone came back
    assert client.heard.speech_ms >= 1200
    assert client.mic.speech_frames_sent == len(packets)
