"""``voxgate bench conversation``: a spoken multi-turn conversation, judged turn by turn.

One session talks to the agents the way a caller does: each utterance is spoken by espeak-ng
(a voice unlike the Piper voice the tests speak with), streamed at microphone pace, and the
caller waits for the agent to finish speaking before the next one. Each turn prints what the
server heard, what the agent said, the tools it called and the handoffs, and how long the caller
waited from the true end of speech to the first audio of the answer; the summary counts good
turns (a spoken answer, the right tool or none, nothing of the scaffolding spoken, the last
answer's words again when the caller asks for them), leaks and wrong routes. ``--pauses``
speaks sentences with a thinking pause in the middle and counts the turns the server ended
before the caller finished.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import time
import uuid
import wave
from dataclasses import dataclass, field
from io import BytesIO

import numpy as np

from voxgate.audio import SAMPLE_RATE, resample
from voxgate.bench.server import serve
from voxgate.bench.wer import plain_wer, wer
from voxgate.client import VoiceClient, cut_by_next_words, spoken_reply_done
from voxgate.protocol import Event


@dataclass(frozen=True)
class Line:
    """One thing the caller says, and the tool that should answer it (None: words only).

    ``agent``, if given, is the agent that should be in charge once the turn is answered;
    ``repeats``: the answer should be the previous answer's words again.
    """

    text: str
    tool: str | None
    agent: str | None = None
    repeats: bool = False


CONVERSATION = [
    Line("Hi, how many bags can I check on my flight?", "faq_lookup_tool"),
    Line("Is there wifi on board?", "faq_lookup_tool"),
    Line("I would like to change my seat please.", None, "seat_booking_agent"),
    Line("My confirmation number is ABC123 and I want seat 14C.", "update_seat"),
    Line("What's the weather like in Tokyo today?", "get_weather"),
    Line("My name is Sarah and I'm flying to Berlin.", None),
    Line("Can I bring my dog on the plane?", "faq_lookup_tool"),
    Line("Could you repeat that more slowly?", None, repeats=True),
    Line("What food do you serve on the flight?", "faq_lookup_tool"),
    Line("Thank you, that's all.", None),
]
PAUSED = [  # (before the pause, after it): a caller thinking mid-sentence
    ("I would like to change my seat to", "fourteen C please."),
    ("My confirmation number is", "A B C one two three."),
    ("What is the weather like in", "Paris this weekend?"),
    ("Can I bring my", "cat in the cabin?"),
    ("I am flying to Berlin and I need", "to know the baggage allowance."),
]
VOICE = "en-us+m3"
WORDS_PER_MINUTE = 165
LEAD_MS = 300
TAIL_MS = 1500
PAUSE_MS = 700
_SCAFFOLDING = re.compile(
    r"[{}\[\]]|\(\)|\b\w+_\w+\b|\bI called\b|\btool\b|\bfunction\b|Tell me this result"
    r"|\bfunction_call|\bcall_id\b",
    re.IGNORECASE,
)


def espeak(text: str, voice: str = VOICE) -> bytes:
    """``text`` spoken by espeak-ng, as PCM16 24 kHz mono."""
    if shutil.which("espeak-ng") is None:
        raise SystemExit("bench conversation speaks with espeak-ng: apt-get install espeak-ng")
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(WORDS_PER_MINUTE), "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    with wave.open(BytesIO(wav)) as reader:
        rate, pcm = reader.getframerate(), reader.readframes(reader.getnframes())
    return resample(pcm, rate, SAMPLE_RATE)


def _silence(ms: float) -> bytes:
    return b"\0\0" * int(SAMPLE_RATE * ms / 1000)


def _speech_end_ms(pcm: bytes, threshold: int = 500) -> float:
    loud = np.nonzero(np.abs(np.frombuffer(pcm, dtype=np.int16)) > threshold)[0]
    return float(loud[-1] + 1) * 1000 / SAMPLE_RATE if loud.size else 0.0


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def leaks(spoken: str) -> list[str]:
    """Pieces of scaffolding (tool names, call syntax, JSON, prompt text) in spoken words."""
    return [m.group(0) for m in _SCAFFOLDING.finditer(spoken)]


@dataclass
class Turn:
    """What one utterance got back."""

    said: str
    heard: str = ""
    spoken: str = ""
    calls: list[str] = field(default_factory=list)
    handoffs: list[str] = field(default_factory=list)
    path: list[str] = field(default_factory=list)
    """The agents in charge during the turn, in order (from the handoffs)."""
    wait_ms: float | None = None
    commits: int = 0
    cut_off: bool = False
    figures: dict[str, float] = field(default_factory=dict)
    """The server's figures for the turn (``voxgate.metrics``), each as first reported."""

    def breakdown(self) -> str:
        """Where the server says the wait went: "vad 150 · stt 111 · llm 24 · tts 86" (ms)."""
        shown = [(short, self.figures.get(name)) for short, name in _BREAKDOWN]
        return " · ".join(f"{short} {value:.0f}" for short, value in shown if value is not None)

    @property
    def tools(self) -> list[str]:
        """Tools called, handoffs left out."""
        return [c.split("(", 1)[0] for c in self.calls if not c.startswith("transfer_to_")]

    def verdict(self, line: Line, agent: str | None, before: str = "") -> str:
        """``good``, or what went wrong; ``agent`` is the one in charge after the turn.

        A route is right when the expected tool (or none) was called, the turn ended with
        the expected agent, if the line names one, and no agent was visited twice: a request
        may go back to triage and on to another agent, never round in a circle. A line that
        asks for a repeat wants the words of the answer ``before`` it.
        """
        if not self.spoken:
            return "no answer"
        if leaks(self.spoken):
            return "leak"
        if line.repeats and _words(self.spoken) != _words(before):
            return "not repeated"
        circled = len(self.path) != len(set(self.path))
        wrong_agent = line.agent is not None and agent != line.agent
        if self.tools != ([line.tool] if line.tool else []) or circled or wrong_agent:
            return "wrong route"
        return "good"


async def _say(client: VoiceClient, parts: list[bytes], pause_ms: float) -> Turn:
    """Speak ``parts`` (with ``pause_ms`` between them); collect the turn once it is answered."""
    clip = _silence(LEAD_MS)
    for index, part in enumerate(parts):
        clip += part + (_silence(pause_ms) if index < len(parts) - 1 else b"")
    speech_end_ms = _speech_end_ms(clip)
    clip += _silence(TAIL_MS)
    mark, audio_mark = len(client.received.events), len(client.received.audio)
    microphone = asyncio.create_task(_microphone(client, clip))
    start = time.monotonic()
    speech_end = start + speech_end_ms / 1000
    try:
        await client.wait_for(
            lambda ev: spoken_reply_done(ev) and not cut_by_next_words(ev), after=mark, timeout=90
        )
        turn = Turn(said="")
        for arrived, ev in client.received.events[mark:]:
            _follow(turn, ev, arrived, speech_end)
        reply = [(t, n) for t, n in client.received.audio[audio_mark:] if t > speech_end]
        if reply:
            turn.wait_ms = (reply[0][0] - speech_end) * 1000
            # a caller listens to the end before speaking again
            playing_until = reply[0][0] + sum(n for _, n in reply) / 2 / SAMPLE_RATE
            await asyncio.sleep(max(0.0, playing_until - time.monotonic()) + 0.5)
    finally:
        microphone.cancel()
        await asyncio.gather(microphone, return_exceptions=True)
    return turn


async def _microphone(client: VoiceClient, clip: bytes) -> None:
    """``clip``, then silence until cancelled: a microphone does not stop when the caller does.

    The server's turn detection runs on the audio it gets: a turn it holds open for a caller
    who may go on ends only as the silence goes on.
    """
    await client.stream(clip)
    while True:
        await client.stream(_silence(200))


def _follow(turn: Turn, ev: Event, arrived: float, speech_end: float) -> None:
    type_ = ev["type"]
    if type_ == "conversation.item.input_audio_transcription.completed":
        turn.heard = " ".join([turn.heard, ev["transcript"]]).strip()
    elif type_ == "input_audio_buffer.committed":
        turn.commits += 1
        turn.cut_off = turn.cut_off or arrived < speech_end
    elif type_ == "response.function_call_arguments.done":
        turn.calls.append(f"{ev['name']}({ev['arguments']})")
    elif type_ == "voxgate.handoff":
        turn.handoffs.append(str(ev.get("to")))
        turn.path = (turn.path or [str(ev.get("from"))]) + [str(ev.get("to"))]
    elif type_ == "response.output_audio_transcript.done" and ev["transcript"].strip():
        turn.spoken = " ".join([turn.spoken, ev["transcript"].strip()]).strip()
    elif type_ == "voxgate.metrics" and ev.get("status") != "cancelled":
        for name, value in (ev.get("metrics") or {}).items():
            if isinstance(value, int | float):
                turn.figures.setdefault(name, float(value))


_BREAKDOWN = (
    ("vad", "vad_delay_ms"),
    ("end of turn", "end_of_turn_ms"),
    ("stt", "stt_ms"),
    ("llm", "llm_first_token_ms"),
    ("tts", "tts_first_audio_ms"),
    ("server v2v", "voice_to_voice_ms"),
)


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


async def _conversation(url: str, voice: str) -> dict[str, object]:
    clips = [espeak(line.text, voice) for line in CONVERSATION]
    turns: list[Turn] = []
    verdicts: list[str] = []
    agent: str | None = None  # in charge, as the handoffs tell
    async with VoiceClient(f"{url}/ws/bench-{uuid.uuid4().hex}") as client:
        for number, (line, clip) in enumerate(zip(CONVERSATION, clips, strict=True), 1):
            turn = await _say(client, [clip], 0)
            turn.said = line.text
            agent = turn.path[-1] if turn.path else agent
            verdict = turn.verdict(line, agent, turns[-1].spoken if turns else "")
            turns.append(turn)
            verdicts.append(verdict)
            wait = f"{turn.wait_ms:5.0f} ms" if turn.wait_ms is not None else "   -- ms"
            split = "  (ended mid-sentence, then went on)" if turn.cut_off else ""
            print(
                f"turn {number:2}  wait {wait}  [{verdict}]{split}  ({turn.breakdown()})\n"
                f"  user:  {line.text}\n  heard: {turn.heard}\n"
                f"  calls: {', '.join(turn.calls) or '-'}  handoffs: "
                f"{', '.join(turn.handoffs) or '-'}\n  agent: {turn.spoken or '-'}",
                flush=True,
            )
    waits = [t.wait_ms for t in turns if t.wait_ms is not None]
    return {
        "turns": len(turns),
        "good_turns": verdicts.count("good"),
        "scaffolding_leaks": verdicts.count("leak"),
        "wrong_routes": verdicts.count("wrong route"),
        "no_answer": verdicts.count("no answer"),
        "not_repeated": verdicts.count("not repeated"),
        "ended_mid_sentence": sum(t.cut_off for t in turns),
        "wait_p50_ms": _percentile(waits, 50),
        "wait_p95_ms": _percentile(waits, 95),
        "wait_mean_ms": round(statistics.fmean(waits), 1) if waits else None,
        "wer": wer([t.said for t in turns], [t.heard for t in turns]),
        "wer_plain": plain_wer([t.said for t in turns], [t.heard for t in turns]),
    }


async def _pauses(url: str, voice: str) -> dict[str, object]:
    cut = 0
    async with VoiceClient(f"{url}/ws/bench-{uuid.uuid4().hex}") as client:
        for before, after in PAUSED:
            turn = await _say(client, [espeak(before, voice), espeak(after, voice)], PAUSE_MS)
            cut += turn.cut_off
            print(
                f"pause {'CUT OFF' if turn.cut_off else 'waited '}  commits {turn.commits}  "
                f"heard: {turn.heard!r}",
                flush=True,
            )
    return {"paused_utterances": len(PAUSED), "false_cutoffs": cut}


async def _run(url: str, voice: str, pauses: bool) -> dict[str, object]:
    figures = await _conversation(url, voice)
    if pauses:
        figures |= await _pauses(url, voice)
    return figures


def main(args: argparse.Namespace) -> int:
    """Print each turn, then one JSON line of figures."""
    if args.url:
        url = re.sub(r"^http", "ws", args.url.rstrip("/"))
        figures = asyncio.run(_run(url, args.voice, args.pauses))
    else:
        with serve("--agents", args.agents) as server:
            figures = asyncio.run(_run(server.ws, args.voice, args.pauses))
    print(json.dumps(figures))
    return 0
