"""``voxgate bench latency``: voice-to-voice latency and WER of spoken turns over ``/ws``.

Each utterance is spoken by Piper, streamed at real-time pace like a microphone, and followed by
silence. Voice-to-voice is measured at the client from the true end of speech in the input (the
last loud sample, known from the clip) to the first byte of agent audio; playback gaps are the
silences a listener would hear inside a reply, where audio came later than the audio before it
took to play. The server's own figure (``voxgate.metrics`` ``voice_to_voice_ms``: from the end of
speech its VAD found, plus the VAD's delay, to the reply's first audio handed to the client)
is reported beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from voxgate.audio import SAMPLE_RATE, resample
from voxgate.bench.server import serve
from voxgate.bench.wer import plain_wer, wer
from voxgate.client import VoiceClient, spoken_reply_done
from voxgate.protocol import Event

UTTERANCES = [
    "What is the capital of France?",
    "Tell me a joke about computers.",
    "How far away is the moon?",
    "Can you recommend a good book to read?",
    "What's the weather like in Paris today?",
    "Turn off the lights in the kitchen.",
    "What time does the train leave tomorrow?",
    "How do I make a cup of tea?",
    "Who wrote the play Romeo and Juliet?",
    "What is the tallest mountain in the world?",
    "Can you help me plan a trip to Italy?",
    "Why is the sky blue?",
]
LEAD_MS = 300
TAIL_MS = 1500


def _speech_end_ms(pcm: bytes, threshold: int = 500) -> float:
    samples = np.abs(np.frombuffer(pcm, dtype=np.int16))
    loud = np.nonzero(samples > threshold)[0]
    return float(loud[-1] + 1) * 1000 / SAMPLE_RATE if loud.size else 0.0


def _playback_gaps_ms(audio: list[tuple[float, int]]) -> float:
    """Silence a listener hears mid-reply: audio that arrives after what came before has played."""
    gaps, played_until = 0.0, None
    for arrived, size in audio:
        if played_until is not None and arrived > played_until:
            gaps += arrived - played_until
        played_until = max(played_until or arrived, arrived) + size / 2 / SAMPLE_RATE
    return gaps * 1000


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


@dataclass
class _Turn:
    """One spoken utterance and what came back."""

    text: str
    heard: str
    v2v_ms: float | None  # None: no agent audio came
    finalize_ms: float
    gaps_ms: float | None  # None: not measured (WebRTC sends silence between replies)
    server_v2v_ms: float | None = None  # the server's voxgate.metrics voice_to_voice_ms


def _clips(texts: list[str]) -> list[bytes]:
    from voxgate.components.tts.piper import PiperTTS

    tts = PiperTTS()
    return [resample(b"".join(tts.synthesize(t)), tts.sample_rate, SAMPLE_RATE) for t in texts]


def _with_silence(clip: bytes) -> bytes:
    lead = b"\0" * (SAMPLE_RATE * 2 * LEAD_MS // 1000)
    return lead + clip + b"\0" * (SAMPLE_RATE * 2 * TAIL_MS // 1000)


def _turn(
    text: str,
    events: list[tuple[float, Event]],
    speech_end: float,
    first_audio: float | None,
    gaps_ms: float | None,
) -> _Turn:
    """The turn's figures from its server events; prints its line."""
    times = {ev["type"]: t for t, ev in events}
    heard = next(
        ev["transcript"]
        for _, ev in events
        if ev["type"] == "conversation.item.input_audio_transcription.completed"
    )
    done = next(ev for _, ev in events if spoken_reply_done(ev))
    reports = [ev["metrics"] for _, ev in events if ev["type"] == "voxgate.metrics"]
    metrics: dict[str, float] = reports[0] if reports else {}
    turn = _Turn(
        text=text,
        heard=heard,
        v2v_ms=(first_audio - speech_end) * 1000 if first_audio else None,
        finalize_ms=(
            times["conversation.item.input_audio_transcription.completed"]
            - times["input_audio_buffer.speech_stopped"]
        )
        * 1000,
        gaps_ms=gaps_ms,
        server_v2v_ms=next(
            (m["voice_to_voice_ms"] for m in reports if "voice_to_voice_ms" in m), None
        ),
    )
    detail = " ".join(f"{k.removesuffix('_ms')}={v:.0f}" for k, v in sorted(metrics.items()))
    gaps = f"gaps {gaps_ms:4.0f} ms  " if gaps_ms is not None else ""
    print(
        f"v2v {turn.v2v_ms or float('nan'):6.0f} ms  stt_finalize {turn.finalize_ms:5.0f} ms  "
        f"{gaps}[{detail}]  {done['response']['status']:<9}  heard: {heard!r}",
        flush=True,
    )
    return turn


def _metrics_of(done: Event) -> Callable[[Event], bool]:
    """Matches the ``voxgate.metrics`` of the response ``done`` ended."""
    response_id = done["response"]["id"]
    return lambda ev: ev["type"] == "voxgate.metrics" and ev["response_id"] == response_id


async def _over_websocket(url: str, texts: list[str], conversations: int) -> list[_Turn]:
    turns = []
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(VoiceClient(f"{url}/ws/bench-{uuid.uuid4().hex}"))
            for _ in range(conversations)
        ]
        for index, (text, clip) in enumerate(zip(texts, _clips(texts), strict=True)):
            client = clients[index % conversations]  # conversations take turns
            mark = len(client.received.events)
            audio_mark = len(client.received.audio)
            sending = asyncio.create_task(client.stream(_with_silence(clip)))
            start = time.monotonic()  # stream() starts at once
            # from the true end: the frame holding it leaves once recorded, up to 20 ms later
            speech_end = start + (LEAD_MS + _speech_end_ms(clip)) / 1000
            # a tool call ends one response; the spoken answer comes in the next
            _, done = await client.wait_for(spoken_reply_done, after=mark, timeout=60)
            await client.wait_for(_metrics_of(done), after=mark, timeout=5)
            await sending
            reply = [(t, n) for t, n in client.received.audio[audio_mark:] if t > speech_end]
            events = client.received.events[mark:]
            first = reply[0][0] if reply else None
            turns.append(_turn(text, events, speech_end, first, _playback_gaps_ms(reply)))
            await asyncio.sleep(0.5)
    return turns


async def _over_webrtc(url: str, texts: list[str]) -> list[_Turn]:
    from voxgate.rtc import FRAME_MS
    from voxgate.rtc_client import RtcClient

    turns = []
    async with RtcClient(url, mode="offer") as client:
        for text, clip in zip(texts, _clips(texts), strict=True):
            mark, spoken = len(client.heard.events), len(client.spoke)
            client.speak(_with_silence(clip))
            while len(client.spoke) == spoken:  # noqa: ASYNC110 (the track's clock, polled)
                await asyncio.sleep(0.005)
            # its first frame left once recorded: the speech began a frame earlier
            speech_end = client.spoke[-1] + (LEAD_MS + _speech_end_ms(clip) - FRAME_MS) / 1000
            index = mark
            while True:  # a tool call ends one response; the spoken answer comes in the next
                index, done = await client.wait_for("response.done", after=index, timeout=60)
                if spoken_reply_done(done):
                    break
                index += 1
            await client.wait_for(_metrics_of(done), after=mark, timeout=5)
            while client.speaking:  # noqa: ASYNC110 (the next turn starts after this one's tail)
                await asyncio.sleep(0.05)
            first = next((t for t in client.heard.speech if t > speech_end), None)
            turns.append(_turn(text, client.heard.events[mark:], speech_end, first, None))
            await asyncio.sleep(1.0)  # the reply plays out
    return turns


def _figures(turns: list[_Turn]) -> dict[str, float]:
    v2v = [t.v2v_ms for t in turns if t.v2v_ms is not None]
    finalize = [t.finalize_ms for t in turns]
    figures = {
        "utterances": len(turns),
        "no_audio": len(turns) - len(v2v),
        "v2v_p50_ms": round(_percentile(v2v, 50), 1),
        "v2v_p95_ms": round(_percentile(v2v, 95), 1),
        "v2v_mean_ms": round(statistics.fmean(v2v), 1) if v2v else float("nan"),
        "stt_finalize_p50_ms": round(_percentile(finalize, 50), 1),
        "stt_finalize_p95_ms": round(_percentile(finalize, 95), 1),
    }
    if server := [t.server_v2v_ms for t in turns if t.server_v2v_ms is not None]:
        figures["server_v2v_p50_ms"] = round(_percentile(server, 50), 1)
    if gaps := [t.gaps_ms for t in turns if t.gaps_ms is not None]:
        figures["playback_gaps_p50_ms"] = round(_percentile(gaps, 50), 1)
        figures["playback_gaps_max_ms"] = round(max(gaps), 1)
    figures["wer"] = wer([t.text for t in turns], [t.heard for t in turns])
    figures["wer_plain"] = plain_wer([t.text for t in turns], [t.heard for t in turns])
    return figures


async def _run(url: str, texts: list[str], transport: str, conversations: int) -> dict[str, float]:
    if transport == "webrtc":
        return _figures(await _over_webrtc(url, texts))
    return _figures(await _over_websocket(url, texts, conversations))


def main(args: argparse.Namespace) -> int:
    """Print a line per utterance, then one JSON line of figures."""
    texts = [UTTERANCES[i % len(UTTERANCES)] for i in range(args.utterances)]
    scheme = "http" if args.transport == "webrtc" else "ws"
    if args.url:
        url = re.sub(r"^(http|ws)", scheme, args.url.rstrip("/"))  # either scheme will do
        figures = asyncio.run(_run(url, texts, args.transport, args.conversations))
    else:
        with serve("--agents", args.agents) as server:
            url = server.http if args.transport == "webrtc" else server.ws
            figures = asyncio.run(_run(url, texts, args.transport, args.conversations))
    print(json.dumps(figures))
    return 0
