"""The embedded offline engine: Silero VAD → Whisper → LLM → Piper behind GA events.

Latency comes from overlapping the turn's end with its work: where the words' level falls (or
the VAD hears a pause) the engine already transcribes and starts the reply, holding its events
back; when the turn ends (after ``silence_duration_ms``, or under ``semantic_vad`` once the
end-of-turn model hears a finished thought) the turn commits and the held events go out at
once; if the user speaks again first the speculative work is dropped unseen. Speech over a
reply pauses it until it is known whether it interrupted (``interruption``).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from typing import Any

from voxgate.components.llm import ChatMessage
from voxgate.engines.core.config import SessionConfig
from voxgate.engines.core.engine import ConversationEngine
from voxgate.engines.core.run import ResponseRun, Speak
from voxgate.engines.local.gate import Gate
from voxgate.engines.local.history import History
from voxgate.engines.local.input import InputAudio
from voxgate.engines.local.interruption import CONFIRM_MS, is_backchannel
from voxgate.engines.local.models import LocalModels
from voxgate.engines.local.turn import Turn
from voxgate.engines.local.turn_detection import SemanticPolicy, TurnEvent, sounds_unfinished
from voxgate.engines.local.voice import LocalVoice
from voxgate.protocol import Event, ProtocolError, error_event, event, new_id

log = logging.getLogger(__name__)

MAX_BUFFER_MS = 5 * 60 * 1000
"""Longest uncommitted input audio a session may hold (manual commit mode)."""
MIN_COMMIT_MS = 100


class LocalEngine(ConversationEngine):
    """One conversation on the shared local models."""

    report_metrics = True

    def __init__(self, models: LocalModels, config: SessionConfig) -> None:
        self._models = models
        self._input = InputAudio(models.new_vad, models.stt.sample_rate)
        self._next_item_id = new_id("item")
        self._history = History(models.llm)
        self._voice_of = LocalVoice(models)
        self._turn: Turn | None = None  # speculative: silence has begun, not yet committed
        self._held: ResponseRun | None = None  # paused by the user's speech: interrupted?
        self._transcribing: set[asyncio.Task[Any]] = set()  # committed turns awaiting transcripts
        super().__init__(models.llm, config)
        self.response_cost_usd = 0.0 if models.offline else None
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
            message = "audio must be whole PCM16 samples (an even number of bytes)"
            raise ProtocolError(message, code="invalid_audio", param="audio")
        for change in self._input.append(pcm):
            self._on_turn_event(change)
        vad = self._input.vad
        if vad is None:
            if self._input.trim_to(MAX_BUFFER_MS):
                self._put(
                    error_event(
                        "the input audio buffer is full (5 minutes); commit or clear it",
                        code="input_audio_buffer_full",
                    )
                )
        elif vad.speaking:
            spoken = self._input.spoken_until_ms - vad.speech_start_ms
            if self._held is not None and spoken >= CONFIRM_MS:
                self._interrupt()
            self._end_if_finished()

    def _on_input_audio_buffer_commit(self, ev: Event) -> None:
        self._commit(respond=self.config.create_response_on_commit)

    def _on_input_audio_buffer_clear(self, ev: Event) -> None:
        self._drop_turn()
        self._input.clear()
        self._put(event("input_audio_buffer.cleared"))
        self._resume_held()  # the sound over the reply is gone

    # -- input audio and turns -------------------------------------------------------------

    def _semantic(self) -> SemanticPolicy | None:
        """The policy of ``semantic_vad``, when the session asks for it and the model is here."""
        td = self.config.turn_detection
        if td is None or td.type != "semantic_vad" or self._models.turn is None:
            return None
        return SemanticPolicy.of(td.eagerness)

    def _configure_vad(self) -> None:
        td = self.config.turn_detection
        if td is None:
            self._input.configure(None)
            self._resume_held()
            return
        policy = self._semantic()
        silence = td.silence_duration_ms if policy is None else policy.max_wait_ms
        self._input.configure((td.threshold, silence, td.prefix_padding_ms))

    def _on_turn_event(self, change: TurnEvent) -> None:
        vad = self._input.vad
        assert vad is not None
        td = self.config.turn_detection
        assert td is not None
        if change is TurnEvent.SPEECH_STARTED:
            self._input.speech_started()
            self._put(
                event(
                    "input_audio_buffer.speech_started",
                    audio_start_ms=int(vad.speech_start_ms),
                    item_id=self._next_item_id,
                )
            )
            if td.interrupt_response and self._response is not None and not self._response.done:
                self._hold(self._response)
        elif change in (TurnEvent.QUIET, TurnEvent.PAUSED):
            if self._turn is None:  # at PAUSED the level's QUIET may have begun it already
                self._turn = self._start_turn(bytes(self._input.buffer))
                if td.create_response:
                    self._turn.prepare = self._spawn(self._prepare_reply(self._turn))
                if (policy := self._semantic()) is not None:
                    self._judge_soon(self._turn, policy)
        elif change in (TurnEvent.RESUMED, TurnEvent.SOUND):
            self._drop_turn()
        elif change is TurnEvent.SPEECH_STOPPED:
            self._put(
                event(
                    "input_audio_buffer.speech_stopped",
                    audio_end_ms=int(self._input.end_ms),
                    item_id=self._next_item_id,
                )
            )
            silent_from = vad.silence_start_ms  # the VAD's delay: the silence it waited through
            delay = None if silent_from is None else self._input.end_ms - silent_from
            if self._held is None:
                self._commit(respond=td.create_response, vad_delay_ms=delay)
            else:
                turn = self._take_turn(vad_delay_ms=delay)
                self._spawn(self._settle(turn, respond=td.create_response))

    def _start_turn(self, audio: bytes) -> Turn:
        transcript = self._spawn(self._transcribe(audio))
        return Turn(item_id=self._next_item_id, audio=audio, transcript=transcript)

    async def _transcribe(self, audio: bytes) -> tuple[str, float]:
        """The transcript, and how long it took (ms)."""
        started = time.monotonic()
        prompt = self.config.transcription_prompt
        text = await asyncio.to_thread(self._models.transcribe, audio, prompt)
        return text, (time.monotonic() - started) * 1000

    def _judge_soon(self, turn: Turn, policy: SemanticPolicy) -> None:
        turn.judgements += 1
        turn.judge = self._spawn(self._judge(turn, policy, bytes(self._input.buffer)))

    async def _judge(self, turn: Turn, policy: SemanticPolicy, audio: bytes) -> None:
        """``semantic_vad``: end the turn now if the user sounds finished, else let it wait."""
        started = time.monotonic()
        try:
            probability = await asyncio.to_thread(self._models.end_of_turn, audio)
        except Exception:
            log.exception("the end-of-turn model failed; the turn ends after the silence")
            return
        finally:
            turn.judge = None
        turn.metrics.update(
            end_of_turn_probability=round(probability, 3),
            end_of_turn_ms=(time.monotonic() - started) * 1000,
        )
        log.debug("end of turn %s: %s", turn.item_id, turn.metrics)
        turn.finished = policy.finished(probability)
        try:
            self._end_if_finished()
        except ProtocolError as exc:
            log.warning("the turn could not commit: %s", exc)

    def _end_if_finished(self) -> None:
        """``semantic_vad``: end a turn judged finished once its silence has lasted long enough.

        That is ``min_wait_ms``, longer while the level hears sound or the words dangle
        (``finished_ends``; "... my seat to" waits for its transcript no longer than server
        VAD's window). One judged unfinished is judged again as the silence goes on, and ends
        after ``sentence_wait_ms`` if its transcript ends a sentence.
        """
        turn, vad, policy = self._turn, self._input.vad, self._semantic()
        td = self.config.turn_detection
        if turn is None or vad is None or vad.silence_start_ms is None or not policy or not td:
            return
        silent_ms = self._input.end_ms - vad.silence_start_ms
        if not turn.finished:
            if policy.sentence_ended(turn.words(), silent_ms):  # the model doubts a sentence
                self._on_turn_event(TurnEvent.SPEECH_STOPPED)
            elif turn.judge is None and policy.judge_again(turn.judgements, silent_ms):
                self._judge_soon(turn, policy)
            return
        words = turn.words()
        ends = policy.finished_ends(words, silent_ms, quiet=self._input.quiet)
        if words is not None and sounds_unfinished(words):
            turn.finished = False
        elif ends or silent_ms >= td.silence_duration_ms:
            self._on_turn_event(TurnEvent.SPEECH_STOPPED)  # as if the silence window had passed

    async def _prepare_reply(self, turn: Turn) -> None:
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

    # -- a reply the user spoke over -------------------------------------------------------

    def _hold(self, reply: ResponseRun) -> None:
        """Speech began over ``reply``: pause it until it is known whether it interrupted."""
        if reply.pause():
            self._held = reply
        else:  # a text reply has nothing to pause
            reply.cancel("turn_detected")

    def _interrupt(self) -> None:
        """The held reply was interrupted: cancelled, truncated to what was heard."""
        held, self._held = self._held, None
        if held is not None and not held.done:
            held.cancel("turn_detected")

    def _resume_held(self) -> None:
        """No interruption: the held reply goes on where the caller stopped hearing it."""
        held, self._held = self._held, None
        if held is not None and not held.done:
            at_ms = int(held.resume())
            self._put(event("voxgate.response.resumed", response_id=held.id, audio_start_ms=at_ms))

    async def _settle(self, turn: Turn, *, respond: bool) -> None:
        """A turn spoken over a held reply ended: an interruption, or a backchannel or noise."""
        try:
            text: str | None = (await turn.transcript)[0]
        except Exception:
            text = None  # _finish_turn reports it; an interruption, to be safe
        if self._held is not None and text is not None and is_backchannel(text):
            log.info("not an interruption (%r): the reply resumes", text)
            turn.drop()
            self._put(event("input_audio_buffer.cleared"))
            vad = self._input.vad
            if vad is None or not vad.speaking:  # else the speech going on decides
                self._resume_held()
            return
        held = self._held
        self._interrupt()
        if held is not None and held.task is not None:
            await asyncio.wait([held.task])  # its response.done goes before the user's turn
        self._commit_turn(turn, respond=respond)

    # -- committing ------------------------------------------------------------------------

    def _commit(self, *, respond: bool, vad_delay_ms: float | None = None) -> None:
        if self._input.buffered_ms < MIN_COMMIT_MS:
            self._drop_turn()
            raise ProtocolError(
                f"the input audio buffer holds under {MIN_COMMIT_MS} ms of audio; "
                "nothing to commit",
                code="input_audio_buffer_commit_empty",
            )
        self._commit_turn(self._take_turn(vad_delay_ms=vad_delay_ms), respond=respond)

    def _take_turn(self, *, vad_delay_ms: float | None = None) -> Turn:
        """The buffer's audio as a turn (the speculative one if any); the buffer starts over."""
        turn = self._turn or self._start_turn(bytes(self._input.buffer))
        if vad_delay_ms is not None:
            turn.metrics["vad_delay_ms"] = vad_delay_ms
        self._turn = None
        self._input.clear()
        self._next_item_id = new_id("item")
        return turn

    def _commit_turn(self, turn: Turn, *, respond: bool) -> None:
        self._interrupt()  # a turn that commits over a held reply interrupted it
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

    async def _finish_turn(self, turn: Turn, *, respond: bool) -> None:
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
        seconds = round(len(turn.audio) / 2 / self._input.rate, 3)
        index = self.conversation.index(turn.item_id)
        self._put(
            event(
                "conversation.item.input_audio_transcription.completed",
                item_id=turn.item_id,
                content_index=0,
                transcript=text,
                usage={"type": "duration", "seconds": seconds},
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
        reply.metrics.update(stt_ms=stt_ms, **turn.metrics)
        self._go_live(reply)
        if gate is not None:
            gate.open()
