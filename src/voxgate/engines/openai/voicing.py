"""Custom voice for engine ``openai``: the upstream model answers in text, a local TTS speaks it.

A ``VoicedResponse`` takes one upstream text response's events in order and gives the client a
spoken response instead: ``output_text`` becomes ``output_audio`` with its transcript, and each
phrase of text is synthesized (at most ``LEAD_MS`` ahead of real-time playback) into
``response.output_audio_transcript.delta`` + ``response.output_audio.delta`` events, its audio
going out chunk by chunk as the TTS makes it. Events that follow the text (``*.done``,
``response.done``) wait for the speech before them. A barge-in ends the response here,
``cancelled``, truncated to what the user heard, and cancels the reply's TTS context. A TTS that
fails is reported once as an ``error`` event; the reply goes on as text (transcript only).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from voxgate.audio import SAMPLE_RATE, Resampler, duration_ms
from voxgate.components.tts import SpeechContext, StreamingTextToSpeech, TTSError
from voxgate.components.tts.phrases import PhraseSplitter
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


@dataclass
class _Phrase:
    text: str
    start_ms: float
    end_ms: float
    complete: bool = False  # all its audio has gone out


class VoicedResponse:
    """One upstream text response, spoken."""

    def __init__(
        self, response_id: str, tts: StreamingTextToSpeech, emit: Callable[[Event], None]
    ) -> None:
        self.id = response_id
        self.item_ids: set[str] = set()
        self.upstream_done = False  # the upstream has sent its response.done
        self.closed = False  # ended here (barge-in or drop): later upstream events are dropped
        self._tts = tts
        self._speech: SpeechContext = tts.context()  # the reply's speech
        self._tts_failed = False
        self._emit = emit
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._splitter = PhraseSplitter()
        self._phrases: list[_Phrase] = []
        self._spoken = ""
        self._sent_ms = 0.0
        self._first_audio_at: float | None = None
        self._part: dict[str, Any] | None = None  # ids of the text part being spoken
        self._item: dict[str, Any] | None = None  # the assistant message being spoken
        self._done = False  # response.done has gone to the client
        self.started = time.monotonic()
        self.pending_fix: tuple[str, str] | None = None  # (item_id, heard) once upstream is done
        self._task = asyncio.create_task(self._run(), name=f"voice {response_id}")

    def feed(self, ev: Event) -> None:
        """The next upstream event of this response."""
        if ev["type"] == "response.output_item.added":
            self.item_ids.add(ev["item"]["id"])
        if ev["type"] == "response.done":
            self.upstream_done = True
        if not self.closed:
            self._queue.put_nowait(ev)

    def heard_ms(self) -> float:
        """Audio the client has played, assuming real-time playback from the first audio."""
        if self._first_audio_at is None:
            return 0.0
        return min(self._sent_ms, (time.monotonic() - self._first_audio_at) * 1000)

    @property
    def first_audio_at(self) -> float | None:
        """When the first audio went out (``time.monotonic()``)."""
        return self._first_audio_at

    @property
    def playing(self) -> bool:
        """Whether there is speech still to come or still playing."""
        return not self._done or self.heard_ms() < self._sent_ms

    def interrupt(self, reason: str) -> tuple[str, str] | None:
        """Stop now; returns (item_id, heard text) when what was said must be cut to it."""
        if self.closed or not self.playing:
            return None
        self.closed = True
        self._task.cancel()
        self._speech.cancel()
        heard_ms = self.heard_ms()
        heard = self._heard_text(heard_ms)
        item = self._item
        if not self._done:
            self._finish_cancelled(reason, heard)
        if item is None or self._sent_ms == 0:
            return None
        self._emit(
            event(
                "conversation.item.truncated",
                item_id=item["id"],
                content_index=0,
                audio_end_ms=int(heard_ms),
            )
        )
        return item["id"], heard

    def close(self) -> None:
        """Stop without a word (the upstream is gone and the engine reports it)."""
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
                    event("response.output_audio_transcript.done", **ids, transcript=self._spoken)
                )
            else:
                self._pass(ev)
            if type_ == "response.done":
                self._done = True
                self._speech.end()
                return

    def _pass(self, ev: Event) -> None:
        type_ = ev["type"]
        if type_ == "response.content_part.added" and ev["part"].get("type") == "text":
            self._part = self._ids(ev)
        elif type_ == "response.output_item.added" and ev["item"].get("type") == "message":
            self._item = ev["item"]
        self._emit(spoken(ev))

    async def _speak(self, phrase: str) -> None:
        while (ahead := self._sent_ms - self.heard_ms()) > LEAD_MS:  # noqa: ASYNC110
            await asyncio.sleep(min(ahead - LEAD_MS, 200) / 1000)
        text = phrase if not self._spoken else " " + phrase
        self._spoken += text
        ids = self._part or {}
        self._emit(event("response.output_audio_transcript.delta", **ids, delta=text))
        said = _Phrase(text, self._sent_ms, self._sent_ms)
        self._phrases.append(said)
        if not self._tts_failed:
            resampler = Resampler(self._tts.sample_rate, SAMPLE_RATE)
            try:
                async for chunk in self._speech.speak(phrase):
                    self._send_audio(ids, resampler.process(chunk), said)
                self._send_audio(ids, resampler.process(b"", last=True), said)
            except TTSError as exc:
                self._tts_failed = True
                self._emit(
                    error_event(
                        f"custom voice failed, the reply goes on as text: {exc}",
                        code="tts_failed",
                        type_="server_error",
                    )
                )
        said.complete = True

    def _send_audio(self, ids: dict[str, Any], pcm: bytes, said: _Phrase) -> None:
        if not pcm:
            return
        if self._first_audio_at is None:
            self._first_audio_at = time.monotonic()
        self._sent_ms += duration_ms(pcm)
        said.end_ms = self._sent_ms
        for offset in range(0, len(pcm), _DELTA_BYTES):
            self._emit(
                event(
                    "response.output_audio.delta", **ids, delta=pcm[offset : offset + _DELTA_BYTES]
                )
            )

    # -- ending here -----------------------------------------------------------------------

    def _finish_cancelled(self, reason: str, heard: str) -> None:
        item = None
        if self._item is not None:
            item = spoken_item(self._item)
            item["status"] = "incomplete"
            item["content"] = [{"type": "output_audio", "transcript": heard}]
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
        response = {
            "id": self.id,
            "object": "realtime.response",
            "status": "cancelled",
            "status_details": {"type": "cancelled", "reason": reason},
            "output": [item] if item is not None else [],
            "output_modalities": ["audio"],
            "usage": None,
        }
        self._emit(event("response.done", response=response))
        self._done = True

    def _heard_text(self, heard_ms: float) -> str:
        text = ""
        for phrase in self._phrases:
            if phrase.complete and phrase.end_ms <= heard_ms:
                text += phrase.text
            elif phrase.start_ms < heard_ms and phrase.end_ms > phrase.start_ms:
                words = phrase.text.split(" ")
                share = (heard_ms - phrase.start_ms) / (phrase.end_ms - phrase.start_ms)
                text += " ".join(words[: int(len(words) * share)])
        return text.strip()

    @staticmethod
    def _ids(ev: Event) -> dict[str, Any]:
        return {k: ev[k] for k in ("response_id", "item_id", "output_index", "content_index")}


class CustomVoice:
    """The engine's side of a custom voice: client events and upstream events, rerouted.

    The client asks for (and is told of) audio; the upstream is asked for text. Each upstream
    response becomes a ``VoicedResponse`` while the client wants audio. ``cut(item_id, heard)``
    is how a barge-in makes the upstream forget the words nobody heard.
    """

    def __init__(
        self,
        tts: StreamingTextToSpeech,
        voice: str,
        modalities: Sequence[str],
        *,
        put: Callable[[Event], None],
        metrics: Callable[[Event, float | None, float | None], None],
        cut: Callable[[str, str], None],
    ) -> None:
        self._tts = tts
        self._voice = voice
        self._modalities = list(modalities)
        self._put = put
        self._metrics = metrics
        self._cut = cut
        self._voiced: dict[str, VoicedResponse] = {}
        self._item_owner: dict[str, VoicedResponse] = {}

    def client_session(self, session: Event) -> Event:
        """The session as the client configured it: speaking, in the local voice."""
        session = copy.deepcopy(session)
        session["output_modalities"] = list(self._modalities)
        session.setdefault("audio", {}).setdefault("output", {})["voice"] = self._voice
        return session

    def client_event(self, ev: Event) -> Event | None:
        """A client event as the text-answering upstream needs it; None when handled here."""
        type_ = ev["type"]
        if type_ == "session.update" and "output_modalities" in ev["session"]:
            self._modalities = list(ev["session"]["output_modalities"] or ["audio"])
            return {**ev, "session": {**ev["session"], "output_modalities": ["text"]}}
        if type_ == "response.create" and (ev.get("response") or {}).get("output_modalities"):
            return {**ev, "response": {**ev["response"], "output_modalities": ["text"]}}
        if type_ == "response.cancel":
            playing = [v for v in self._voiced.values() if v.playing and not v.closed]
            for voiced in playing:
                self._interrupt(voiced, "client_cancelled")
            if playing and all(v.upstream_done for v in playing):
                return None  # the upstream has finished: nothing of it left to cancel
        return ev

    def route(self, ev: Event) -> bool:
        """Give a response's upstream event to its ``VoicedResponse``; False: not one of them."""
        type_ = ev["type"]
        if type_ == "input_audio_buffer.speech_started":
            for voiced in list(self._voiced.values()):
                self._interrupt(voiced, "turn_detected")
            return False
        if type_ == "response.created":
            for voiced in list(self._voiced.values()):
                self._forget(voiced)
            if "audio" not in self._modalities:
                return False
            voiced = VoicedResponse(ev["response"]["id"], self._tts, self._emit)
            self._voiced[voiced.id] = voiced
            voiced.feed(ev)
            return True
        response_id = ev.get("response_id") or (ev.get("response") or {}).get("id")
        found = self._voiced.get(response_id) if isinstance(response_id, str) else None
        item_id = (ev.get("item") or {}).get("id")
        if found is None and type_ in ("conversation.item.added", "conversation.item.done"):
            found = self._item_owner.get(item_id or "")
        if found is None:
            return False
        found.feed(ev)
        if type_ == "response.output_item.added" and isinstance(item_id, str):
            self._item_owner[item_id] = found
        elif type_ == "response.done" and found.pending_fix is not None:
            self._cut(*found.pending_fix)
        return True

    def on_drop(self) -> None:
        """The upstream connection dropped: replies it was still writing stop unspoken."""
        for voiced in list(self._voiced.values()):
            if not voiced.upstream_done:
                voiced.close()
                self._forget(voiced, gone=True)

    def close(self) -> None:
        """Stop every voice."""
        for voiced in self._voiced.values():
            voiced.close()

    def _emit(self, ev: Event) -> None:
        self._put(ev)
        if ev["type"] == "response.done":
            voiced = self._voiced.get(ev["response"]["id"])
            first_audio = voiced.first_audio_at if voiced else None
            self._metrics(ev["response"], voiced.started if voiced else None, first_audio)

    def _interrupt(self, voiced: VoicedResponse, reason: str) -> None:
        heard = voiced.interrupt(reason)
        if heard is not None:
            if voiced.upstream_done:
                self._cut(*heard)
            else:
                voiced.pending_fix = heard
        self._forget(voiced)

    def _forget(self, voiced: VoicedResponse, *, gone: bool = False) -> None:
        """Drop a response once nothing of it is left to say, swallow or fix."""
        if gone or (voiced.upstream_done and (voiced.closed or not voiced.playing)):
            self._voiced.pop(voiced.id, None)
            for item_id in voiced.item_ids:
                self._item_owner.pop(item_id, None)
