"""One text reply of the inner engine, spoken.

A ``VoicedReply`` takes the inner engine's events of one response in order and gives the client
a spoken response instead: ``output_text`` becomes ``output_audio`` with its transcript, and
each phrase of text is synthesized (at most ``LEAD_MS`` ahead of real-time playback) into
``response.output_audio_transcript.delta`` + ``response.output_audio.delta`` events, its audio
going out chunk by chunk as the TTS makes it. Events that follow the text (``*.done``,
``response.done``, the inner's ``voxgate.metrics``) wait for the speech before them. A barge-in
ends the reply here, ``cancelled``, truncated to what the user heard, and cancels its TTS
context. A TTS that fails is reported once as an ``error`` event; the reply goes on as text
(transcript only).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from voxgate.audio import SAMPLE_RATE, Resampler, duration_ms
from voxgate.components.tts import SpeechContext, StreamingTextToSpeech, TTSError
from voxgate.components.tts.phrases import PhraseSplitter
from voxgate.engines.core.playback import Playback
from voxgate.engines.core.response import message_item, response_object
from voxgate.protocol import Event, error_event, event

LEAD_MS = 1500.0
_DELTA_BYTES = SAMPLE_RATE * 2 // 10  # 100 ms per audio delta
_ITEM_EVENTS = {
    "response.output_item.added",
    "response.output_item.done",
    "conversation.item.added",
    "conversation.item.done",
}


def spoken_item(item: dict[str, Any]) -> dict[str, Any]:
    """An assistant message's ``output_text`` parts as ``output_audio`` with transcripts."""
    if item.get("type") != "message" or item.get("role") != "assistant":
        return item
    item = copy.deepcopy(item)
    for part in item.get("content") or []:
        if part.get("type") == "output_text":
            part["type"], part["transcript"] = "output_audio", part.pop("text", "")
    return item


def spoken(ev: Event) -> Event:
    """``ev`` as the spoken response would have it."""
    type_ = ev["type"]
    if type_ in ("response.created", "response.done"):
        response = copy.deepcopy(ev["response"])
        if response.get("output_modalities"):
            response["output_modalities"] = ["audio"]
        response["output"] = [spoken_item(i) for i in response.get("output") or []]
        return {**ev, "response": response}
    if type_ in _ITEM_EVENTS:
        return {**ev, "item": spoken_item(ev["item"])}
    if type_ in ("response.content_part.added", "response.content_part.done"):
        part = ev["part"]
        if part.get("type") == "text":
            return {**ev, "part": {"type": "audio", "transcript": part.get("text", "")}}
    return ev


class Heard(NamedTuple):
    """What the user heard of a reply's message, to make the inner engine remember only that."""

    item_id: str
    previous_item_id: str | None
    """The item before it, as the inner engine added it (None: the first)."""
    text: str


class VoicedReply:
    """One inner text response, spoken."""

    def __init__(
        self,
        response_id: str,
        tts: StreamingTextToSpeech,
        emit: Callable[[Event], None],
        *,
        speed: float = 1.0,
    ) -> None:
        self.id = response_id
        self.item_ids: set[str] = set()
        self.inner_done = False  # the inner engine has sent its response.done
        self.closed = False  # ended here: later inner events are dropped
        self.pending_fix: Heard | None = None  # sent once the inner engine is done
        self._tts = tts
        self._speech: SpeechContext = tts.context(speed=speed)  # the reply's speech
        self._tts_failed = False
        self._emit = emit
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._splitter = PhraseSplitter()
        self._playback = Playback()
        self._part: dict[str, Any] | None = None  # ids of the text part being spoken
        self._item: dict[str, Any] | None = None  # the assistant message being spoken
        self._previous: dict[str, str | None] = {}  # item id -> previous_item_id
        self._started = time.monotonic()
        self._timings: dict[str, float] | None = None  # set once response.done went out
        self._tts_first_audio_ms: float | None = None  # the first phrase's synthesis
        self._inner_metrics: Event | None = None
        self._task = asyncio.create_task(self._run(), name=f"voice {response_id}")

    def feed(self, ev: Event) -> None:
        """The next inner event of this response."""
        type_ = ev["type"]
        if type_ == "voxgate.metrics":
            self._inner_metrics = ev  # it follows the spoken response.done
            self._send_metrics()
            return
        if type_ == "response.output_item.added":
            self.item_ids.add(ev["item"]["id"])
        elif type_ == "conversation.item.added":
            self._previous[ev["item"]["id"]] = ev.get("previous_item_id")
        elif type_ == "response.done":
            self.inner_done = True
        if not self.closed:
            self._queue.put_nowait(ev)

    @property
    def playing(self) -> bool:
        """Whether there is speech still to come or still playing."""
        return self._timings is None or self._playback.playing

    def interrupt(self, reason: str) -> Heard | None:
        """Stop now; returns what was heard when the inner engine must be told."""
        if self.closed or not self.playing:
            return None
        self.close()
        heard_ms = self._playback.heard_ms()
        heard = self._playback.heard_text(heard_ms)
        item = self._item
        if self._timings is None:
            self._finish_cancelled(reason, heard)
        if item is None or self._playback.sent_ms == 0:
            return None
        self._emit(
            event(
                "conversation.item.truncated",
                item_id=item["id"],
                content_index=0,
                audio_end_ms=int(heard_ms),
            )
        )
        if item["id"] not in self._previous:  # never added to the inner conversation
            return None
        return Heard(item["id"], self._previous[item["id"]], heard)

    def fail(self, done: Event) -> None:
        """The inner response ended ``failed`` (its upstream dropped): stop speaking, say so."""
        self.inner_done = True
        self.pending_fix = None  # what it said is deleted with it
        if self.closed:
            return
        self.close()
        if self._timings is None:
            self._emit(spoken(done))
            self._end()

    def close(self) -> None:
        """Stop without a word."""
        self.closed = True
        self._task.cancel()
        self._speech.cancel()

    # -- the ordered stream ----------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            ev = await self._queue.get()
            type_ = ev["type"]
            if type_ == "response.output_text.delta":
                for phrase in self._splitter.feed(ev["delta"]):
                    await self._speak(phrase)
            elif type_ == "response.output_text.done":
                for phrase in self._splitter.flush():
                    await self._speak(phrase)
                ids = self._ids(ev)
                self._emit(event("response.output_audio.done", **ids))
                self._emit(
                    event(
                        "response.output_audio_transcript.done",
                        **ids,
                        transcript=self._playback.text,
                    )
                )
            else:
                self._pass(ev)
            if type_ == "response.done":
                self._speech.end()
                self._end()
                return

    def _pass(self, ev: Event) -> None:
        type_ = ev["type"]
        if type_ == "response.content_part.added" and ev["part"].get("type") == "text":
            self._part = self._ids(ev)
        elif type_ == "response.output_item.added" and ev["item"].get("type") == "message":
            self._item = ev["item"]
        self._emit(spoken(ev))

    async def _speak(self, phrase: str) -> None:
        await self._playback.pace(LEAD_MS)
        text = self._playback.begin_phrase(phrase)
        ids = self._part or {}
        self._emit(event("response.output_audio_transcript.delta", **ids, delta=text))
        if not self._tts_failed:
            resampler = Resampler(self._tts.sample_rate, SAMPLE_RATE)
            started = time.monotonic()
            try:
                async for chunk in self._speech.speak(phrase):
                    if self._tts_first_audio_ms is None and chunk:
                        self._tts_first_audio_ms = (time.monotonic() - started) * 1000
                    self._send_audio(ids, resampler.process(chunk))
                self._send_audio(ids, resampler.process(b"", last=True))
            except TTSError as exc:
                self._tts_failed = True
                self._emit(
                    error_event(
                        f"custom voice failed, the reply goes on as text: {exc}",
                        code="tts_failed",
                        type_="server_error",
                    )
                )
        self._playback.end_phrase()

    def _send_audio(self, ids: dict[str, Any], pcm: bytes) -> None:
        if not pcm:
            return
        self._playback.audio(duration_ms(pcm))
        for offset in range(0, len(pcm), _DELTA_BYTES):
            self._emit(
                event(
                    "response.output_audio.delta", **ids, delta=pcm[offset : offset + _DELTA_BYTES]
                )
            )

    # -- ending ----------------------------------------------------------------------------

    def _end(self) -> None:
        """Its ``response.done`` has gone out: the inner's metrics may follow, with our timing."""
        now = time.monotonic()
        self._timings = {"response_ms": (now - self._started) * 1000}
        if self._playback.first_audio_at is not None:
            self._timings["first_audio_ms"] = (self._playback.first_audio_at - self._started) * 1000
        if self._tts_first_audio_ms is not None:
            self._timings["tts_first_audio_ms"] = self._tts_first_audio_ms
        self._send_metrics()

    def _send_metrics(self) -> None:
        if self._inner_metrics is None or self._timings is None:
            return
        ev, self._inner_metrics = self._inner_metrics, None
        self._emit({**ev, "metrics": {**(ev.get("metrics") or {}), **self._timings}})

    def _finish_cancelled(self, reason: str, heard: str) -> None:
        item = None
        if self._item is not None:
            item = message_item(self._item["id"], "incomplete", heard, audio=True)
        if self._part is not None:
            self._emit(event("response.output_audio.done", **self._part))
            self._emit(
                event("response.output_audio_transcript.done", **self._part, transcript=heard)
            )
            part = {"type": "audio", "transcript": heard}
            self._emit(event("response.content_part.done", **self._part, part=part))
        if item is not None:
            self._emit(
                event("response.output_item.done", response_id=self.id, output_index=0, item=item)
            )
            self._emit(event("conversation.item.done", previous_item_id=None, item=item))
        response = response_object(
            self.id,
            "cancelled",
            audio=True,
            output=[item] if item is not None else [],
            details={"type": "cancelled", "reason": reason},
        )
        self._emit(event("response.done", response=response))
        self._end()

    @staticmethod
    def _ids(ev: Event) -> dict[str, Any]:
        return {k: ev[k] for k in ("response_id", "item_id", "output_index", "content_index")}
