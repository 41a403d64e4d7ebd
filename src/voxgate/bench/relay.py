"""``voxgate bench relay --sessions N --seconds S``: what relaying a hosted model's sessions costs.

N real-time callers stream 20 ms PCM16 frames (1 s of tone, then 1.5 s of silence, again and
again, each starting at its own moment) to an OpenAI Realtime simulator on 127.0.0.1
(``bench/upstream.py``) that answers each turn with 1 s of audio: first straight to the
simulator (the baseline), then through a spawned ``voxgate serve`` (engine ``openai`` pointed at
the simulator, no agents) over ``/ws``. A turn's latency is the time from the caller's last tone
frame to the first reply audio it hears (the simulator's 200 ms end-of-turn wait included, on
both paths). Printed: progress, then one JSON line with ``sessions``, ``p50_ms``, ``p99_ms``
(and the baseline's), ``dropped_frames`` (reply audio that never arrived, in 20 ms frames),
``cpu_us_per_frame`` (the server's CPU time per relayed input frame; ``cpu_sys_us_per_frame`` of
it in the kernel), ``rss_mb_per_session`` (the server's RSS with the sessions open, over its RSS
before, per session). ``--soak M`` keeps the load on for M minutes and reports the server's RSS
growth per session per minute. ``--compare pipecat`` runs the same callers through Pipecat too
(``bench/pipecat_server.py``, in a venv of its own: ``bench/compare.py``), over the same binary
PCM16 wire as voxgate's ``/ws``, and adds its figures under ``pipecat`` with ``cpu_ratio``,
``rss_ratio`` (Pipecat's over voxgate's) and ``p99_over_voxgate_ms``. Every run's callers start
at the same moments. Figures only; nothing is asserted on them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets

from voxgate.bench.compare import (
    PIPECAT_VERSION,
    CompareError,
    default_venv,
    pipecat_python,
    pipecat_serve,
)
from voxgate.bench.server import Served, serve
from voxgate.bench.soak import rss_mb
from voxgate.bench.upstream import RATE, REPLY_MS, _tone

FRAME_MS = 20
TONE_FRAMES = 50
CYCLE_FRAMES = 125  # 1 s of tone, 1.5 s of silence
FRAME_BYTES = RATE * FRAME_MS // 1000 * 2
REPLY_BYTES = RATE * REPLY_MS // 1000 * 2
CONNECT_BATCH = 25
_TONE = _tone(FRAME_MS)
_SILENCE = bytes(FRAME_BYTES)


def _append(pcm: bytes) -> str:
    return json.dumps(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}
    )


_TONE_JSON, _SILENCE_JSON = _append(_TONE), _append(_SILENCE)


@dataclass
class Caller:
    """One caller: its socket, when it starts, what it heard."""

    ws: Any
    direct: bool
    start_tick: int
    tone_end: float | None = None
    heard_bytes: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    turns: int = 0

    def frame(self, tick: int) -> str | bytes | None:
        """What to send at ``tick`` (None: not started or done)."""
        k = tick - self.start_tick
        if k < 0:
            return None
        tone = k % CYCLE_FRAMES < TONE_FRAMES
        if self.direct:
            return _TONE_JSON if tone else _SILENCE_JSON
        return _TONE if tone else _SILENCE

    def heard(self, n: int) -> None:
        """``n`` bytes of reply audio arrived."""
        if self.tone_end is not None:
            self.latencies_ms.append((time.perf_counter() - self.tone_end) * 1000)
            self.tone_end = None
        self.heard_bytes += n


async def _listen(caller: Caller) -> None:
    with contextlib.suppress(websockets.ConnectionClosed):
        async for message in caller.ws:
            if isinstance(message, bytes):
                caller.heard(len(message))
            elif caller.direct and '"response.output_audio.delta"' in message:
                delta = json.loads(message)["delta"]
                caller.heard(len(delta) * 3 // 4 - delta.count("=", -2))


async def _connect(url: str, direct: bool) -> Any:
    ws = await websockets.connect(url, max_size=None, compression=None, open_timeout=60)
    while True:  # the session's first event (Pipecat's server: once its upstream is set up)
        message = await ws.recv()
        if isinstance(message, str) and (
            '"session.created"' in message or '"session.updated"' in message
        ):
            return ws


@dataclass
class Figures:
    """One run's figures."""

    sessions: int
    latencies_ms: list[float]
    dropped_frames: int
    behind_ms: float
    cpu_s: float = 0.0
    sys_s: float = 0.0  # of cpu_s, in the kernel
    frames: int = 0
    cpu_pct: list[float] = field(default_factory=list)
    rss_before_mb: float = 0.0
    rss_open_mb: float = 0.0
    rss_minutes_mb: list[float] = field(default_factory=list)

    def pct(self, q: float) -> float:
        """Latency quantile ``q`` (0-1), ms."""
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def _tree(pid: int) -> list[int]:
    """``pid`` and its children (``serve --workers``: the front and its workers)."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int(_stat(int(entry))[1]) == pid:
                    children.append(int(entry))
    return [pid, *children]


def _cpu_split_s(pid: int) -> tuple[float, float]:
    """User and system CPU time of ``pid`` and its children, s."""
    user = system = 0
    for p in _tree(pid):
        with contextlib.suppress(OSError):
            fields = _stat(p)
            user, system = user + int(fields[11]), system + int(fields[12])
    tick = os.sysconf("SC_CLK_TCK")
    return user / tick, system / tick


def _rss_mb(pid: int) -> float:
    """RSS of ``pid`` and its children, MB."""
    return sum(rss_mb(p) for p in _tree(pid))


async def _load(
    url: str, n: int, seconds: float, *, direct: bool, pid: int | None, log: Any
) -> Figures:
    cycles = max(1, round(seconds * 1000 / (CYCLE_FRAMES * FRAME_MS)))
    frames_each = cycles * CYCLE_FRAMES
    rss_before = _rss_mb(pid) if pid else 0.0
    starts = random.Random(n)  # the same moments for every run
    callers: list[Caller] = []
    for start in range(0, n, CONNECT_BATCH):
        batch = min(CONNECT_BATCH, n - start)
        sockets = await asyncio.gather(
            *(_connect(url.format(id=uuid.uuid4().hex), direct) for _ in range(batch))
        )
        callers += [Caller(ws, direct, starts.randrange(CYCLE_FRAMES)) for ws in sockets]
    listeners = [asyncio.create_task(_listen(c)) for c in callers]
    await asyncio.sleep(1.0)
    figures = Figures(
        n, [], 0, 0.0, rss_before_mb=rss_before, rss_open_mb=_rss_mb(pid) if pid else 0
    )
    log(f"  {n} sessions open" + (f", server RSS {figures.rss_open_mb:.0f} MB" if pid else ""))
    user0, sys0 = _cpu_split_s(pid) if pid else (0.0, 0.0)
    last_tick = max(c.start_tick for c in callers) + frames_each
    t0 = time.perf_counter()
    sample_t, sample_cpu = t0, user0 + sys0
    for tick in range(last_tick):
        due = t0 + tick * FRAME_MS / 1000
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            figures.behind_ms = max(figures.behind_ms, -delay * 1000)
        for caller in callers:
            k = tick - caller.start_tick
            if 0 <= k < frames_each:
                frame = caller.frame(tick)
                with contextlib.suppress(websockets.ConnectionClosed):
                    await caller.ws.send(frame)
                figures.frames += 1
                if k % CYCLE_FRAMES == TONE_FRAMES - 1:
                    caller.tone_end, caller.turns = time.perf_counter(), caller.turns + 1
        now = time.perf_counter()
        if pid and now - sample_t >= 1.0:
            cpu = sum(_cpu_split_s(pid))
            figures.cpu_pct.append(100 * (cpu - sample_cpu) / (now - sample_t))
            sample_t, sample_cpu = now, cpu
            elapsed_min = (now - t0) / 60
            if elapsed_min >= len(figures.rss_minutes_mb) + 1:
                figures.rss_minutes_mb.append(_rss_mb(pid))
                minute, mb = len(figures.rss_minutes_mb), figures.rss_minutes_mb[-1]
                log(f"  minute {minute}: RSS {mb:.0f} MB")
    await asyncio.sleep(REPLY_MS / 1000 + 1.0)  # the last replies
    if pid:
        user, system = _cpu_split_s(pid)
        figures.cpu_s, figures.sys_s = user + system - user0 - sys0, system - sys0
    for caller in callers:
        figures.latencies_ms += caller.latencies_ms
        figures.dropped_frames += (
            max(0, caller.turns * REPLY_BYTES - caller.heard_bytes) // FRAME_BYTES
        )
    await asyncio.gather(*(c.ws.close() for c in callers), return_exceptions=True)
    for task in listeners:
        task.cancel()
    log(
        f"  p50 {figures.pct(0.5):.0f} ms, p99 {figures.pct(0.99):.0f} ms, "
        f"dropped {figures.dropped_frames}"
    )
    return figures


@contextlib.contextmanager
def _upstream() -> Iterator[int]:
    with __import__("socket").socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    proc = subprocess.Popen([sys.executable, "-m", "voxgate.bench.upstream", "--port", str(port)])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with __import__("socket").create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the upstream simulator did not start") from None
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _summary(figures: Figures) -> dict[str, Any]:
    cpu = figures.cpu_pct
    return {
        "p50_ms": round(figures.pct(0.5), 1),
        "p99_ms": round(figures.pct(0.99), 1),
        "turns": len(figures.latencies_ms),
        "dropped_frames": figures.dropped_frames,
        "load_behind_ms": round(figures.behind_ms, 1),
        **(
            {
                "cpu_us_per_frame": round(figures.cpu_s * 1e6 / max(1, figures.frames), 1),
                "cpu_sys_us_per_frame": round(figures.sys_s * 1e6 / max(1, figures.frames), 1),
                "cpu_avg_pct": round(statistics.fmean(cpu), 1) if cpu else None,
                "cpu_peak_pct": round(max(cpu), 1) if cpu else None,
                "rss_mb": round(figures.rss_open_mb, 1),
                "rss_mb_per_session": round(
                    (figures.rss_open_mb - figures.rss_before_mb) / figures.sessions, 3
                ),
            }
            if figures.cpu_s
            else {}
        ),
    }


def _relative(figures: Figures, direct: Figures | None, args: argparse.Namespace) -> dict[str, Any]:
    """A run's p99 over the direct baseline's, or with ``--soak`` its RSS growth."""
    out: dict[str, Any] = {}
    if direct is not None:
        out["p99_over_direct_ms"] = round(figures.pct(0.99) - direct.pct(0.99), 1)
    if args.soak and len(figures.rss_minutes_mb) >= 2:
        minutes = len(figures.rss_minutes_mb) - 1
        growth = figures.rss_minutes_mb[-1] - figures.rss_minutes_mb[0]
        out["soak_kb_per_session_per_minute"] = round(growth * 1024 / args.sessions / minutes, 2)
    return out


def _versus(other: Figures, voxgate: Figures) -> dict[str, Any]:
    """The other stack's CPU per frame and RSS per session over voxgate's, its p99 over."""

    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 2) if a > 0 and b > 0 else None

    return {
        "cpu_ratio": ratio(
            other.cpu_s / max(1, other.frames), voxgate.cpu_s / max(1, voxgate.frames)
        ),
        "rss_ratio": ratio(
            other.rss_open_mb - other.rss_before_mb, voxgate.rss_open_mb - voxgate.rss_before_mb
        ),
        "p99_over_voxgate_ms": round(other.pct(0.99) - voxgate.pct(0.99), 1),
    }


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def url(served: Served) -> str:
        return f"{served.ws}/ws/relay-{{id}}"

    seconds = args.soak * 60 if args.soak else args.seconds
    data_dir = args.data_dir or tempfile.mkdtemp(prefix="voxgate-relay-")
    pipecat = None
    if args.compare == "pipecat":  # installed first: a failure costs no load
        pipecat = pipecat_python(Path(args.pipecat_venv or default_venv()), log)
    with _upstream() as port:
        result: dict[str, Any] = {
            "sessions": args.sessions,
            "seconds": seconds,
            "workers": args.workers,
        }
        direct = None
        if not args.soak:
            log(f"direct to the simulator: {args.sessions} callers, {seconds:.0f} s")
            direct = await _load(
                f"ws://127.0.0.1:{port}/v1/realtime?model=sim&id={{id}}",
                args.sessions,
                seconds,
                direct=True,
                pid=None,
                log=log,
            )
            result["direct"] = _summary(direct)
        env = {
            "VOXGATE_ENGINE": "openai",
            "VOXGATE_AGENTS": "none",
            "VOXGATE_OPENAI_API_KEY": "sk-bench",
            "VOXGATE_OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
            "VOXGATE_SESSIONS_PER_MINUTE": "1000000",
            "VOXGATE_DATA_DIR": data_dir,
        }
        log(f"voxgate, {args.workers} process(es): {args.sessions} callers, {seconds:.0f} s")
        workers = ("--workers", str(args.workers)) if args.workers > 1 else ()
        with serve(*workers, env=env, log=args.server_log) as served:
            via = await _load(
                url(served), args.sessions, seconds, direct=False, pid=served.pid, log=log
            )
        result.update(_summary(via), **_relative(via, direct, args))
        if pipecat is not None:
            log(f"Pipecat {PIPECAT_VERSION}, 1 process: {args.sessions} callers, {seconds:.0f} s")
            server_log = (
                f"{args.server_log}.pipecat"
                if args.server_log
                else os.path.join(data_dir, "pipecat-server.log")
            )
            with pipecat_serve(pipecat, port, log=server_log) as served:
                other = await _load(
                    url(served), args.sessions, seconds, direct=False, pid=served.pid, log=log
                )
            result["pipecat"] = {
                **_summary(other),
                **_relative(other, direct, args),
                **_versus(other, via),
            }
    return result


def main(args: argparse.Namespace) -> int:
    """Run the benchmark; the last line printed is the JSON summary."""
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        result = asyncio.run(_run(args))
    except CompareError as e:
        print(f"voxgate bench relay: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0
