"""The embedded offline engine: Silero VAD → Whisper → LLM → Piper behind GA events.

Latency comes from overlapping the turn's end with its work: when the user falls silent the
engine already transcribes and starts the reply, holding its events back; if the silence lasts
``silence_duration_ms`` the turn commits and the held events go out at once, and if the user
speaks again the speculative work is dropped unseen.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from voxgate.audio import SAMPLE_RATE, Resampler
from voxgate.components.llm import ChatMessage
from voxgate.engines.core.config import SessionConfig
from voxgate.engines.core.engine import ConversationEngine
from voxgate.engines.core.run import ResponseRun, Speak
from voxgate.engines.local.gate import Gate
from voxgate.engines.local.history import History
from voxgate.engines.local.models import LocalModels
from voxgate.engines.local.turn_detection import ServerVAD, TurnEvent
from voxgate.engines.local.voice import LocalVoice
from voxgate.protocol import Event, ProtocolError, error_event, event, new_id

log = logging.getLogger(__name__)

MAX_BUFFER_MS = 5 * 60 * 1000
"""Longest uncommitted input audio a session may hold (manual commit mode)."""
MIN_COMMIT_MS = 100


@dataclass
class _Turn:
    """One user utterance: its audio, its transcript (maybe still coming), maybe a reply."""

    item_id: str
    audio: bytes
    transcript: asyncio.Task[tuple[str, float]]
    started_at: float = field(default_factory=time.monotonic)
    reply: ResponseRun | None = None
    gate: Gate | None = None  # where the speculative reply's events wait
    prepare: asyncio.Task[None] | None = None

    def drop(self) -> None:
        self.transcript.cancel()
        if self.prepare is not None:
            self.prepare.cancel()
        if self.gate is not None:
            self.gate.drop()
        if self.reply is not None:
            self.reply.cancel("turn_detected")


class LocalEngine(ConversationEngine):
    """One conversation on the shared local models."""

    report_metrics = True

    def __init__(self, models: LocalModels, config: SessionConfig) -> None:
        self._models = models
        # soxr's low-quality filter delays by ~20 ms less than its default, and speech
        # recognition and VAD are as accurate on it (measured); the delay is on every turn's end
        self._resampler = Resampler(SAMPLE_RATE, models.stt.sample_rate, quality="LQ")
        self._rate = models.stt.sample_rate
        self._vad_detector = models.new_vad()
        self._frame_bytes = self._vad_detector.frame_samples * 2
        self._vad: ServerVAD | None = None
        self._pending = bytearray()  # resampled audio not yet a whole VAD frame
        self._buffer = bytearray()  # the uncommitted input audio buffer, at the STT rate
        self._end_samples = 0  # input samples (STT rate) received so far
        self._next_item_id = new_id("item")
        self._history = History(models.llm)
        self._voice_of = LocalVoice(models)
        self._turn: _Turn | None = None  # speculative: silence has begun, not yet committed
        self._transcribing: set[asyncio.Task[Any]] = set()  # committed turns awaiting transcripts
        super().__init__(models.llm, config)
        self._configure_vad()

    async def close(self) -> None:
        """Cancel all work; ``events()`` ends."""
        if self._turn is not None and not self._closed:
            self._turn.drop()
        await super().close()

    # -- ConversationEngine hooks ----------------------------------------------------------

    def _unsupported(self, type_: str) -> str:
        return f"event type {type_!r} is not supported by the local engine"

    def _session_updated(self) -> None:
        self._configure_vad()
        self._spawn(self._prepare_model())

    async def _prepare_model(self) -> None:
        """Ready the model for this session's instructions and tools before the user speaks."""
        try:
            await self._models.llm.prepare(self.config.instructions, self.config.tools)
        except Exception:
            log.exception("preparing the language model failed")

    async def _messages(self, instructions: str | None) -> list[ChatMessage]:
        # a manual commit's transcript may still be on its way
        await asyncio.gather(*self._transcribing, return_exceptions=True)
        return self._chat_messages(instructions)

    def _chat_messages(
        self, instructions: str | None, user_text: str | None = None
    ) -> list[ChatMessage]:
        """The conversation as chat messages (truncated), and ``user_text`` as the last."""
        return self._history.messages(self.config, self.conversation.items, instructions, user_text)

    def _voice(self) -> Speak | None:
        return self._voice_of.speak

    # -- client events ---------------------------------------------------------------------

    def _on_input_audio_buffer_append(self, ev: Event) -> None:
        pcm: bytes = ev["audio"]
        if len(pcm) % 2:
            raise ProtocolError(
                "audio must be whole PCM16 samples (an even number of bytes)",
                code="invalid_audio",
                param="audio",
            )
        self._append(self._resampler.process(pcm))

    def _on_input_audio_buffer_commit(self, ev: Event) -> None:
        self._commit(respond=self.config.create_response_on_commit)

    def _on_input_audio_buffer_clear(self, ev: Event) -> None:
        if self._turn is not None:
            self._turn.drop()
            self._turn = None
        self._buffer.clear()
        if self._vad is not None:
            self._vad.reset()
        self._put(event("input_audio_buffer.cleared"))

    # -- input audio and turns -------------------------------------------------------------

    def _configure_vad(self) -> None:
        td = self.config.turn_detection
        if td is None:
            self._vad = None
            return
        settings = (td.threshold, td.silence_duration_ms, td.prefix_padding_ms)
        if self._vad is None or settings != (
            self._vad.threshold,
            self._vad.silence_duration_ms,
            self._vad.prefix_padding_ms,
        ):
            self._vad = ServerVAD(*settings)
            self._vad_detector.reset()

    def _ms(self, samples: int) -> float:
        return samples * 1000 / self._rate

    def _append(self, pcm: bytes) -> None:
        self._buffer += pcm
        self._end_samples += len(pcm) // 2
        if self._vad is None:
            if self._ms(len(self._buffer) // 2) > MAX_BUFFER_MS:
                del self._buffer[: len(pcm)]
                self._put(
                    error_event(
                        "the input audio buffer is full (5 minutes); commit or clear it",
                        code="input_audio_buffer_full",
                    )
                )
            return
        self._pending += pcm
        frame_bytes = self._frame_bytes
        pending_samples = len(self._pending) // 2
        frame_end = self._end_samples - pending_samples
        while len(self._pending) >= frame_bytes:
            frame = bytes(self._pending[:frame_bytes])
            del self._pending[:frame_bytes]
            frame_start, frame_end = frame_end, frame_end + frame_bytes // 2
            change = self._vad.process(
                self._vad_detector.speech_probability(frame),
                self._ms(frame_start),
                self._ms(frame_end),
            )
            if change is not None:
                self._on_turn_event(change)
        if self._vad is not None and not self._vad.speaking:
            keep = int(self._vad.prefix_padding_ms * self._rate / 1000) * 2 + len(self._pending)
            if len(self._buffer) > keep:
                del self._buffer[: len(self._buffer) - keep]

    def _buffer_start_ms(self) -> float:
        return self._ms(self._end_samples - len(self._buffer) // 2)

    def _on_turn_event(self, change: TurnEvent) -> None:
        vad = self._vad
        assert vad is not None
        td = self.config.turn_detection
        assert td is not None
        if change is TurnEvent.SPEECH_STARTED:
            start_ms = max(vad.speech_start_ms - vad.prefix_padding_ms, self._buffer_start_ms())
            del self._buffer[: int((start_ms - self._buffer_start_ms()) * self._rate / 1000) * 2]
            self._put(
                event(
                    "input_audio_buffer.speech_started",
                    audio_start_ms=int(vad.speech_start_ms),
                    item_id=self._next_item_id,
                )
            )
            if td.interrupt_response and self._response is not None and not self._response.done:
                self._response.cancel("turn_detected")
        elif change is TurnEvent.PAUSED:
            self._turn = self._start_turn(bytes(self._buffer))
            if td.create_response:
                self._turn.prepare = self._spawn(self._prepare_reply(self._turn))
        elif change is TurnEvent.RESUMED:
            if self._turn is not None:
                self._turn.drop()
                self._turn = None
        elif change is TurnEvent.SPEECH_STOPPED:
            self._put(
                event(
                    "input_audio_buffer.speech_stopped",
                    audio_end_ms=int(self._ms(self._end_samples)),
                    item_id=self._next_item_id,
                )
            )
            self._commit(respond=td.create_response)

    def _start_turn(self, audio: bytes) -> _Turn:
        transcript = self._spawn(self._transcribe(audio))
        return _Turn(item_id=self._next_item_id, audio=audio, transcript=transcript)

    async def _transcribe(self, audio: bytes) -> tuple[str, float]:
        """The transcript, and how long it took (ms)."""
        started = time.monotonic()
        text = await asyncio.to_thread(self._transcribe_now, audio)
        return text, (time.monotonic() - started) * 1000

    def _transcribe_now(self, audio: bytes) -> str:
        with self._models.foreground.hold():
            return self._models.stt.transcribe(audio, prompt=self.config.transcription_prompt)

    async def _prepare_reply(self, turn: _Turn) -> None:
        """Speculatively transcribe and start the reply, gated until the turn commits."""
        try:
            text, _ = await turn.transcript
        except Exception:
            return  # _finish_turn reports it
        if text:
            turn.gate = Gate(self._put, is_open=False)
            snapshot = self._chat_messages(None, text)  # the user's item is not in yet

            async def messages() -> list[ChatMessage]:
                return snapshot

            turn.reply = self._new_response(
                turn.gate.emit, messages=messages, playback=turn.gate.playback
            )
            turn.reply.start()

    def _commit(self, *, respond: bool) -> None:
        if self._ms(len(self._buffer) // 2) < MIN_COMMIT_MS:
            self._drop_turn()
            raise ProtocolError(
                f"the input audio buffer holds under {MIN_COMMIT_MS} ms of audio; "
                "nothing to commit",
                code="input_audio_buffer_commit_empty",
            )
        turn = self._turn or self._start_turn(bytes(self._buffer))
        self._turn = None
        self._buffer.clear()
        if self._vad is not None:
            self._vad.reset()
        self._next_item_id = new_id("item")
        previous = self.conversation.last_id
        self._put(
            event("input_audio_buffer.committed", item_id=turn.item_id, previous_item_id=previous)
        )
        item = {
            "id": turn.item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        self._put(event("conversation.item.added", previous_item_id=previous, item=item))
        finishing = self._spawn(self._finish_turn(turn, respond=respond))
        self._transcribing.add(finishing)
        finishing.add_done_callback(self._transcribing.discard)

    def _drop_turn(self) -> None:
        if self._turn is not None:
            self._turn.drop()
            self._turn = None

    async def _finish_turn(self, turn: _Turn, *, respond: bool) -> None:
        committed_at = time.monotonic()
        try:
            text, stt_ms = await turn.transcript
        except Exception as exc:
            log.exception("transcription failed")
            self._put(
                event(
                    "conversation.item.input_audio_transcription.failed",
                    item_id=turn.item_id,
                    content_index=0,
                    error={
                        "type": "server_error",
                        "code": "transcription_failed",
                        "message": str(exc),
                    },
                )
            )
            return
        stt_wait_ms = (time.monotonic() - committed_at) * 1000
        index = self.conversation.index(turn.item_id)
        self._put(
            event(
                "conversation.item.input_audio_transcription.completed",
                item_id=turn.item_id,
                content_index=0,
                transcript=text,
                usage={"type": "duration", "seconds": round(len(turn.audio) / 2 / self._rate, 3)},
            )
        )
        if index is not None:  # the client may have deleted it meanwhile
            item = copy.deepcopy(self.conversation.items[index])  # with its transcript now
            self._put(event("conversation.item.done", previous_item_id=None, item=item))
        if not respond or not text:
            return
        if turn.prepare is not None:
            await asyncio.shield(turn.prepare)
        reply, gate = turn.reply, turn.gate
        if reply is None or reply.done or gate is None:
            reply, gate = self._new_response(self._put), None
            reply.start()
        reply.metrics.update(stt_wait_ms=stt_wait_ms, stt_ms=stt_ms)
        self._go_live(reply)
        if gate is not None:
            gate.open()
