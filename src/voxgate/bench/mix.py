"""``voxgate bench mix``: what mixing participants' microphones costs, per 20 ms frame.

For 1, 2 and 4 speakers each sending 20 ms of a tone per frame (in step, as microphones do),
two figures: the ``Mixer`` alone (every speaker's push, and the mixed frame), and the whole
input path of a ``Session`` (``append_audio``: roles, the lock, the mixer, the append to an
engine that does nothing), against the path before participants were mixed (what
``append_audio`` was: one ``input_audio_buffer.append`` per chunk through the session's send to
the engine). Levels are measured with two
or more participants, as in a session. No models; figures printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator, Callable

import numpy as np

from voxgate.audio import SAMPLE_RATE
from voxgate.protocol import Event
from voxgate.session import EventWriter, Session
from voxgate.session.mixer import FRAME_MS, FRAME_SAMPLES, Mixer

PARTICIPANTS = (1, 2, 4)


class NullEngine:
    """Takes every event and does nothing: only the session's own cost is measured."""

    async def send(self, ev: Event) -> None:
        pass

    async def events(self) -> AsyncIterator[Event]:
        await asyncio.Event().wait()
        yield {}  # pragma: no cover - never reached

    async def close(self) -> None:
        pass


def _frames(speakers: int) -> list[list[bytes]]:
    """Per speaker, a second of its own tone in 20 ms frames (at -12 dBFS)."""
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    out = []
    for index in range(speakers):
        tone = np.rint(8000 * np.sin(2 * np.pi * (200 + 110 * index) * t)).astype(np.int16)
        out.append(
            [tone[i : i + FRAME_SAMPLES].tobytes() for i in range(0, SAMPLE_RATE, FRAME_SAMPLES)]
        )
    return out


def mixer_us(speakers: int, frames: int) -> float:
    """Microseconds per 20 ms frame: every speaker's push, and the mix."""
    mixer = Mixer()
    mixer.measure = speakers > 1
    audio = _frames(speakers)
    keys = [f"p{i}" for i in range(speakers)]
    started = time.perf_counter()
    for n in range(frames):
        now = n * FRAME_MS / 1000
        for key, chunks in zip(keys, audio, strict=True):
            mixer.push(key, chunks[n % len(chunks)], now)
    return (time.perf_counter() - started) / frames * 1e6


async def session_us(speakers: int, frames: int) -> float:
    """Microseconds per 20 ms frame through ``Session.append_audio`` (a null engine)."""
    session = Session("bench", lambda _config: NullEngine())
    who = [session.join(EventWriter(_discard, max_pending=8)) for _ in range(speakers)]
    await session.start()
    audio = _frames(speakers)
    started = time.perf_counter()
    for n in range(frames):
        for participant, chunks in zip(who, audio, strict=True):
            await session.append_audio(chunks[n % len(chunks)], participant)
    elapsed = time.perf_counter() - started
    await session.close()
    return elapsed / frames * 1e6


async def before_us(frames: int) -> float:
    """Microseconds per frame before mixing: an append event through the session's send."""
    session = Session("bench", lambda _config: NullEngine())
    await session.start()
    (chunks,) = _frames(1)
    started = time.perf_counter()
    for n in range(frames):
        # what append_audio did then: the event, the ended check, the engine's send
        await session._to_engine(
            {"type": "input_audio_buffer.append", "audio": chunks[n % len(chunks)]}
        )
    elapsed = time.perf_counter() - started
    await session.close()
    return elapsed / frames * 1e6


async def _discard(ev: Event) -> None:
    pass


async def run(frames: int, report: Callable[[str], None] = print) -> dict[int, tuple[float, float]]:
    """Print the table; returns {speakers: (mixer µs, session µs)} per frame."""
    figures: dict[int, tuple[float, float]] = {}
    report(f"{frames} frames of {FRAME_MS} ms each (a frame's budget: {FRAME_MS * 1000} µs)")
    report("speakers  mixer µs/frame  session µs/frame  share of one core")
    for speakers in PARTICIPANTS:
        mix = min(mixer_us(speakers, frames) for _ in range(3))
        whole = min([await session_us(speakers, frames) for _ in range(3)])
        figures[speakers] = (mix, whole)
        share = whole / (FRAME_MS * 1000) * 100
        report(f"{speakers:>8}  {mix:>14.1f}  {whole:>16.1f}  {share:>16.3f} %")
    before = min([await before_us(frames) for _ in range(3)])
    report(f"before mixing, one speaker's append through the session: {before:.1f} µs/frame")
    return figures


def main(args: argparse.Namespace) -> int:
    """``voxgate bench mix``."""
    asyncio.run(run(args.frames))
    return 0
