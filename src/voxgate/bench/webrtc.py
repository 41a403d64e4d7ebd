"""``voxgate bench webrtc --sessions N``: how many WebRTC sessions a core carries, and their loss.

What it measures: the WebRTC transport alone. A ``voxgate serve`` is spawned with the
``loopback`` engine (no models: every mic chunk comes straight back as agent audio). N aiortc
peers on 127.0.0.1 each send a 440 Hz tone on their Opus track (encoded once, replayed by every
peer, on uvloop: the load generator should cost less than what it measures); the server decodes
it, resamples 48 → 24 kHz, passes it through a session, and plays it back on its paced outgoing
track (40 ms Opus frames). Over a steady window each peer measures how much tone comes back
against the window's length: the shortfall is the loss (late audio counts as lost, as it does to a
listener). CPU is the server process's user+system time over the window (``/proc``), per
session; the peers' own CPU (this process) is shown apart. Both share the machine, so the
figures are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from voxgate.audio import SAMPLE_RATE
from voxgate.bench.server import serve
from voxgate.rtc import encode_opus
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


@dataclass
class _Result:
    losses: list[float]
    rtp_lost: int
    own_cpu_s: float
    window_s: float


async def _peers(
    base_url: str,
    sessions: int,
    seconds: float,
    *,
    start_at: float | None = None,
    on_window: Callable[[str], None] | None = None,
    label: str = "",
) -> _Result:
    """Connect ``sessions`` peers, stream tone (from ``start_at``, epoch s), measure a window."""
    clients = [RtcClient(base_url) for _ in range(sessions)]
    started = time.monotonic()
    for i in range(0, sessions, CONNECT_BATCH):
        batch = time.monotonic()
        await asyncio.gather(*(c.connect() for c in clients[i : i + CONNECT_BATCH]))
        print(
            f"{label}peers {i + 1}-{min(i + CONNECT_BATCH, sessions)} connected in "
            f"{time.monotonic() - batch:.1f} s",
            flush=True,
        )
    print(f"{label}{sessions} peers connected in {time.monotonic() - started:.1f} s", flush=True)
    if start_at is not None:
        late = time.time() - start_at
        if late > 0:
            print(f"{label}connected {late:.1f} s after the common start", flush=True)
        await asyncio.sleep(max(0.0, -late))
    tone = encode_opus(_tone(WARMUP_S + seconds + 2))  # once for all peers: they are the load
    try:
        for c in clients:
            c.speak_opus(tone)
        await asyncio.sleep(WARMUP_S)
        before = [_Window(c.heard.speech_ms, c.heard.audio_ms) for c in clients]
        if on_window:
            on_window("start")
        wall0, own0 = time.monotonic(), time.process_time()
        await asyncio.sleep(seconds)
        wall1, own1 = time.monotonic(), time.process_time()
        if on_window:
            on_window("end")
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
            f"{label}session {i:3d}: {got:6.0f}/{expected:.0f} ms of tone back "
            f"({audio:.0f} ms of audio), loss {loss:5.2f} %, rtp packets lost {lost_rtp[i]}",
            flush=True,
        )
    return _Result(losses, sum(lost_rtp), own1 - own0, window)


def _figures(results: list[_Result], server_cpu_s: float | None, window: float) -> dict:
    losses = [x for r in results for x in r.losses]
    sessions = len(losses)
    server_cpu = server_cpu_s / window * 100 if server_cpu_s is not None else float("nan")
    peers_cpu = sum(r.own_cpu_s for r in results) / window * 100
    per_session = server_cpu / sessions
    figures = {
        "sessions": sessions,
        "peer_processes": len(results),
        "seconds": round(window, 1),
        "loss_pct_mean": round(float(np.mean(losses)), 3),
        "loss_pct_max": round(float(np.max(losses)), 3),
        "sessions_over_1pct_loss": sum(1 for x in losses if x > 1),
        "rtp_packets_lost": sum(r.rtp_lost for r in results),
        "server_cpu_pct": round(server_cpu, 1),
        "server_cpu_pct_per_session": round(per_session, 3),
        "peers_cpu_pct_per_session": round(peers_cpu / sessions, 3),
        "sessions_per_core_est": round(100 / per_session, 1) if per_session > 0 else None,
        "cores": os.cpu_count(),
    }
    print(
        f"server CPU {server_cpu:.1f} % of a core for {sessions} sessions "
        f"({per_session:.2f} % each, ~{figures['sessions_per_core_est']} per core); "
        f"peers' CPU {peers_cpu:.1f} %; mean loss {figures['loss_pct_mean']} %",
        flush=True,
    )
    return figures


async def _run(base_url: str, sessions: int, seconds: float, server_pid: int | None) -> dict:
    """All peers in this process."""
    marks: dict[str, float] = {}
    result = await _peers(
        base_url, sessions, seconds, on_window=lambda m: marks.__setitem__(m, _cpu(server_pid))
    )
    cpu = marks["end"] - marks["start"] if server_pid is not None else None
    return _figures([result], cpu, result.window_s)


def _run_procs(url: str, sessions: int, seconds: float, procs: int, server_pid: int | None) -> dict:
    """Peers spread over ``procs`` processes, so the peers' side is not what limits."""
    start_at = time.time() + 3 + sessions * 0.15
    shares = [sessions // procs + (1 if i < sessions % procs else 0) for i in range(procs)]
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voxgate.cli",
                "bench",
                "webrtc",
                "--url",
                url,
                "--sessions",
                str(n),
                "--seconds",
                str(seconds),
                "--start-at",
                str(start_at),
                "--label",
                f"[{i}] ",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i, n in enumerate(shares)
        if n
    ]
    time.sleep(max(0.0, start_at + WARMUP_S - time.time()))
    cpu0 = _cpu(server_pid)
    time.sleep(seconds)
    cpu1 = _cpu(server_pid)
    results = []
    for child in children:
        out, _ = child.communicate()
        lines = out.strip().splitlines()
        print("\n".join(lines[:-1]), flush=True)
        data = json.loads(lines[-1])
        results.append(
            _Result(data["losses"], data["rtp_lost"], data["own_cpu_s"], data["window_s"])
        )
    cpu = cpu1 - cpu0 if server_pid is not None else None
    return _figures(results, cpu, seconds)


def _cpu(pid: int | None) -> float:
    return _cpu_seconds(pid) if pid is not None else 0.0


_LOOPBACK = {
    "VOXGATE_ENGINE": "loopback",
    "VOXGATE_AGENTS": "none",
    "VOXGATE_WEBRTC_ENABLED": "true",
}
"""The server the bench measures: the transport alone, no models, no agents."""


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The uvloop event loop when installed (uvicorn[standard] brings it; the server uses it)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(args: argparse.Namespace) -> int:
    """Print a line per session, a summary, then one JSON line of figures."""
    if args.start_at is not None:  # one of several peer processes
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            result = runner.run(
                _peers(
                    args.url.rstrip("/"),
                    args.sessions,
                    args.seconds,
                    start_at=args.start_at,
                    label=args.label,
                )
            )
        print(json.dumps(dataclasses.asdict(result)))
        return 0
    with contextlib.ExitStack() as stack:
        if args.url:
            url, pid = args.url.rstrip("/"), None
        else:
            server = stack.enter_context(serve(env=_LOOPBACK, timeout=60))
            url, pid = server.http, server.pid
        if args.procs > 1:
            figures = _run_procs(url, args.sessions, args.seconds, args.procs, pid)
        else:
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                figures = runner.run(_run(url, args.sessions, args.seconds, pid))
    print(json.dumps(figures))
    return 0
