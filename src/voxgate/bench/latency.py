"""``voxgate bench latency``: voice-to-voice latency and WER of spoken turns over ``/ws``.

Each utterance is spoken by Piper, streamed at real-time pace like a microphone, and followed by
silence. Voice-to-voice is measured at the client from the true end of speech in the input (the
last loud sample, known from the clip) to the first byte of agent audio; playback gaps are the
silences a listener would hear inside a reply, where audio came later than the audio before it
took to play.
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

import jiwer
import numpy as np

from voxgate.audio import SAMPLE_RATE, resample
from voxgate.bench.server import serve
from voxgate.client import VoiceClient
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


def _spoken_response_done(ev: Event) -> bool:
    if ev["type"] != "response.done":
        return False
    response = ev["response"]
    return response["status"] != "completed" or any(
        item.get("type") == "message" for item in response.get("output") or []
    )


def _normalize(text: str) -> str:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).strip()


async def _run(url: str, texts: list[str], conversations: int = 1) -> dict[str, float]:
    from voxgate.components.tts.piper import PiperTTS

    tts = PiperTTS()
    clips = [resample(b"".join(tts.synthesize(t)), tts.sample_rate, SAMPLE_RATE) for t in texts]
    v2v, finalize, gaps, references, hypotheses = [], [], [], [], []
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(VoiceClient(f"{url}/ws/bench-{uuid.uuid4().hex}"))
            for _ in range(conversations)
        ]
        for turn, (text, clip) in enumerate(zip(texts, clips, strict=True)):
            client = clients[turn % conversations]  # conversations take turns
            mark = len(client.received.events)
            audio_mark = len(client.received.audio)
            pcm = b"\0" * (SAMPLE_RATE * 2 * LEAD_MS // 1000) + clip
            pcm += b"\0" * (SAMPLE_RATE * 2 * TAIL_MS // 1000)
            sending = asyncio.create_task(client.stream(pcm))
            start = time.monotonic()  # stream() starts at once
            # from the true end: the frame holding it leaves once recorded, up to 20 ms later
            speech_end = start + (LEAD_MS + _speech_end_ms(clip)) / 1000
            # a tool call ends one response; the spoken answer comes in the next
            _, done = await client.wait_for(_spoken_response_done, after=mark, timeout=60)
            await client.wait_for("voxgate.metrics", after=mark, timeout=5)
            await sending
            times = {ev["type"]: t for t, ev in client.received.events[mark:]}
            heard = next(
                ev["transcript"]
                for _, ev in client.received.events[mark:]
                if ev["type"] == "conversation.item.input_audio_transcription.completed"
            )
            reply_audio = [(t, n) for t, n in client.received.audio[audio_mark:] if t > speech_end]
            first_audio = reply_audio[0][0] if reply_audio else None
            turn_gaps = _playback_gaps_ms(reply_audio)
            turn_v2v = (first_audio - speech_end) * 1000 if first_audio else float("nan")
            turn_finalize = (
                times["conversation.item.input_audio_transcription.completed"]
                - times["input_audio_buffer.speech_stopped"]
            ) * 1000
            if first_audio:
                v2v.append(turn_v2v)
            finalize.append(turn_finalize)
            gaps.append(turn_gaps)
            references.append(_normalize(text))
            hypotheses.append(_normalize(heard))
            metrics: dict[str, float] = next(
                (
                    ev["metrics"]
                    for _, ev in client.received.events[mark:]
                    if ev["type"] == "voxgate.metrics"
                ),
                {},
            )
            detail = " ".join(
                f"{k.removesuffix('_ms')}={v:.0f}" for k, v in sorted(metrics.items())
            )
            print(
                f"v2v {turn_v2v:6.0f} ms  stt_finalize {turn_finalize:5.0f} ms  "
                f"gaps {turn_gaps:4.0f} ms  [{detail}]  "
                f"{done['response']['status']:<9}  heard: {heard!r}",
                flush=True,
            )
            await asyncio.sleep(0.5)
    return {
        "utterances": len(texts),
        "no_audio": len(texts) - len(v2v),
        "v2v_p50_ms": round(_percentile(v2v, 50), 1),
        "v2v_p95_ms": round(_percentile(v2v, 95), 1),
        "v2v_mean_ms": round(statistics.fmean(v2v), 1) if v2v else float("nan"),
        "stt_finalize_p50_ms": round(_percentile(finalize, 50), 1),
        "stt_finalize_p95_ms": round(_percentile(finalize, 95), 1),
        "playback_gaps_p50_ms": round(_percentile(gaps, 50), 1),
        "playback_gaps_max_ms": round(max(gaps, default=float("nan")), 1),
        "wer": round(float(jiwer.wer(references, hypotheses)), 4),
    }


def main(args: argparse.Namespace) -> int:
    """Print a line per utterance, then one JSON line of figures."""
    texts = [UTTERANCES[i % len(UTTERANCES)] for i in range(args.utterances)]
    if args.url:
        url = re.sub(r"^http", "ws", args.url.rstrip("/"))  # http://… and ws://… both do
        figures = asyncio.run(_run(url, texts, args.conversations))
    else:
        with serve("--agents", args.agents) as server:
            figures = asyncio.run(_run(server.ws, texts, args.conversations))
    print(json.dumps(figures))
    return 0
