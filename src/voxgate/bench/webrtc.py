"""``voxgate bench webrtc --sessions N``: how many WebRTC sessions a core carries, and their loss.

What it measures: the WebRTC transport alone. A ``voxgate serve`` is spawned with the
``loopback`` engine (no models: every mic chunk comes straight back as agent audio). N aiortc
peers on 127.0.0.1 each send a 440 Hz tone on their Opus track; the server decodes it, resamples
48 → 24 kHz, passes it through a session, and plays it back on its paced outgoing track (40 ms
Opus frames). Over a steady window each peer measures how much tone comes back against the
window's length: the shortfall is the loss (late audio counts as lost, as it does to a
listener). CPU is the server process's user+system time over the window (``/proc``), per
session; the peers' own CPU (this process) is shown apart. Both share the machine, so the
figures are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from voxgate.audio import SAMPLE_RATE
from voxgate.rtc_client import RtcClient

WARMUP_S = 3.0
CONNECT_BATCH = 8


def _tone(seconds: float, hz: float = 440.0, amplitude: int = 8000) -> bytes:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (np.sin(2 * np.pi * hz * t) * amplitude).astype(np.int16).tobytes()


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class _Window:
    speech_ms: float
    audio_ms: float


async def _rtp_lost(client: RtcClient) -> int:
    stats = await client.pc.getStats()
    return sum(
        int(getattr(s, "packetsLost", 0) or 0) for s in stats.values() if s.type == "inbound-rtp"
    )


async def _run(base_url: str, sessions: int, seconds: float, server_pid: int | None) -> dict:
    clients = [RtcClient(base_url) for _ in range(sessions)]
    started = time.monotonic()
    for i in range(0, sessions, CONNECT_BATCH):
        batch = time.monotonic()
        await asyncio.gather(*(c.connect() for c in clients[i : i + CONNECT_BATCH]))
        print(
            f"peers {i + 1}-{min(i + CONNECT_BATCH, sessions)} connected in "
            f"{time.monotonic() - batch:.1f} s",
            flush=True,
        )
    connect_s = time.monotonic() - started
    print(f"{sessions} peers connected in {connect_s:.1f} s", flush=True)
    tone = _tone(WARMUP_S + seconds + 2)
    try:
        for c in clients:
            c.speak(tone)
        await asyncio.sleep(WARMUP_S)
        before = [_Window(c.heard.speech_ms, c.heard.audio_ms) for c in clients]
        cpu0, wall0, own0 = _cpu(server_pid), time.monotonic(), time.process_time()
        await asyncio.sleep(seconds)
        cpu1, wall1, own1 = _cpu(server_pid), time.monotonic(), time.process_time()
        after = [_Window(c.heard.speech_ms, c.heard.audio_ms) for c in clients]
        lost_rtp = [await _rtp_lost(c) for c in clients]
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    window = wall1 - wall0
    expected = window * 1000
    losses = []
    for i, (b, a) in enumerate(zip(before, after, strict=True)):
        got = a.speech_ms - b.speech_ms
        audio = a.audio_ms - b.audio_ms
        loss = max(0.0, 1 - got / expected) * 100
        losses.append(loss)
        print(
            f"session {i:3d}: {got:6.0f}/{expected:.0f} ms of tone back ({audio:.0f} ms of audio), "
            f"loss {loss:5.2f} %, "
            f"rtp packets lost {lost_rtp[i]}",
            flush=True,
        )
    server_cpu = (cpu1 - cpu0) / window * 100 if server_pid is not None else float("nan")
    own_cpu = (own1 - own0) / window * 100
    per_session = server_cpu / sessions
    figures = {
        "sessions": sessions,
        "seconds": round(window, 1),
        "loss_pct_mean": round(float(np.mean(losses)), 3),
        "loss_pct_max": round(float(np.max(losses)), 3),
        "sessions_over_1pct_loss": sum(1 for x in losses if x > 1),
        "rtp_packets_lost": sum(lost_rtp),
        "server_cpu_pct": round(server_cpu, 1),
        "server_cpu_pct_per_session": round(per_session, 3),
        "peers_cpu_pct_per_session": round(own_cpu / sessions, 3),
        "sessions_per_core_est": round(100 / per_session, 1) if per_session > 0 else None,
        "cores": os.cpu_count(),
    }
    print(
        f"server CPU {server_cpu:.1f} % of a core for {sessions} sessions "
        f"({per_session:.2f} % each, ~{figures['sessions_per_core_est']} per core); "
        f"peers' CPU {own_cpu:.1f} %; mean loss {figures['loss_pct_mean']} %",
        flush=True,
    )
    return figures


def _cpu(pid: int | None) -> float:
    return _cpu_seconds(pid) if pid is not None else 0.0


@contextlib.contextmanager
def _server() -> Iterator[tuple[str, int]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "VOXGATE_ENGINE": "loopback", "VOXGATE_WEBRTC_ENABLED": "true"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxgate.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("voxgate serve did not start") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def main(args: argparse.Namespace) -> int:
    """Print a line per session, a summary, then one JSON line of figures."""
    if args.url:
        figures = asyncio.run(_run(args.url.rstrip("/"), args.sessions, args.seconds, None))
    else:
        with _server() as (url, pid):
            figures = asyncio.run(_run(url, args.sessions, args.seconds, pid))
    print(json.dumps(figures))
    return 0
