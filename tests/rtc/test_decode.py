"""Incoming Opus decoded in the event loop: no thread per receiver, audio intact, bad packets skipped."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import numpy as np
import pytest
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtp import RtpPacket

from tests.conftest import serve_app
from voxgate.rtc import FRAME_MS, encode_opus
from voxgate.rtc.decode import ArrivalOrder, InlineDecoder, MonoOpusDecoder
from voxgate.rtc_client import RtcClient
from voxgate.server.app import create_app
from voxgate.settings import Settings

pytestmark = pytest.mark.e2e


def tone(ms: int) -> bytes:
    t = np.arange(24 * ms) / 24000
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16).tobytes()


def _packet(sequence_number: int) -> RtpPacket:
    packet = RtpPacket(sequence_number=sequence_number, timestamp=sequence_number * 960)
    packet._data = bytes([sequence_number % 256])  # type: ignore[attr-defined]
    return packet


def test_audio_packets_go_on_as_they_arrive_and_late_ones_are_dropped():
    buffer = ArrivalOrder()
    passed = [buffer.add(_packet(n))[1] for n in (65534, 65535, 0, 2, 1, 2, 3)]
    arrived = [65534, 65535, 0, 2, None, None, 3]  # across the wrap; 1 came late, 2 twice
    assert [f.timestamp // 960 if f else None for f in passed] == arrived
    assert passed[0] is not None and passed[0].data == bytes([65534 % 256])


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
        [receiver] = client.pc.getReceivers()
        # packets went straight on: no jitter buffer holding four of them back
        assert isinstance(receiver._RTCRtpReceiver__jitter_buffer, ArrivalOrder)
    assert not [name for name in threads if name.endswith("-decoder")]
    # both receivers (the server's and the client's) decoded inline: the tone came back
    assert client.heard.speech_ms >= 1200
    assert client.mic.speech_frames_sent == len(packets)


def test_the_openai_engine_receives_with_the_patch_without_the_gateway():
    # the engine's own peer connection decodes inline even when no transport was imported
    check = (
        "import sys; from aiortc import rtcrtpreceiver; import voxgate.engines.openai.webrtc; "
        "from voxgate.rtc import decode; "
        "assert 'voxgate.transports' not in sys.modules and 'voxgate.server' not in sys.modules; "
        "assert rtcrtpreceiver.RTCRtpReceiver.receive is decode._inline_receive"
    )
    subprocess.run([sys.executable, "-c", check], check=True, timeout=60)
