"""The level beside the VAD: a turn's work begins where the words' level falls, before the
VAD's pause, and a silence the VAD hears over a sound the level hears does not end a turn."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from tests.conftest import silence
from voxgate.engines.core.config import SessionConfig
from voxgate.engines.local import LocalEngine, LocalModels
from voxgate.engines.local.turn_detection import TurnEvent
from voxgate.protocol import Event
from voxgate.settings import Settings

pytestmark = pytest.mark.e2e

FRAME = 960  # 20 ms at 24 kHz, as a microphone sends it


async def speak(
    settings: Settings, models: LocalModels, pcm: bytes, *, realtime: bool = False
) -> tuple[list[tuple[TurnEvent, bool]], list[str]]:
    """Feed ``pcm`` as a microphone would (at its pace with ``realtime``, as the end-of-turn
    model's verdicts need): the turn events (each with whether a turn's work had begun when it
    came) and the transcripts."""
    config = SessionConfig.from_settings(settings)
    config.output_modalities = ["text"]
    engine = LocalEngine(models, config)
    seen: list[tuple[TurnEvent, bool]] = []
    on_turn_event = engine._on_turn_event

    def record(change: TurnEvent) -> None:
        seen.append((change, engine._turn is not None))  # whether work had begun
        on_turn_event(change)

    engine._on_turn_event = record  # type: ignore[method-assign]
    heard: list[str] = []
    transcribed = asyncio.Event()

    async def read() -> None:
        ev: Event
        async for ev in engine.events():
            if ev["type"] == "conversation.item.input_audio_transcription.completed":
                heard.append(ev["transcript"])
                transcribed.set()

    reader = asyncio.create_task(read())
    try:
        began = time.monotonic()
        for index, start in enumerate(range(0, len(pcm), FRAME)):
            await engine.send(
                {"type": "input_audio_buffer.append", "audio": pcm[start : start + FRAME]}
            )
            due = began + (index + 1) * 0.02 if realtime else 0.0
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        await asyncio.wait_for(transcribed.wait(), 30)
        await asyncio.sleep(0.5)  # a second turn, if the words were cut, would be heard by now
    finally:
        await engine.close()
        reader.cancel()
    return seen, heard


async def test_transcription_begins_before_the_vad_hears_the_pause(settings, models, speech):
    seen, heard = await speak(
        settings, models, silence(300) + speech("What is the capital of France?") + silence(1500)
    )
    last_quiet = max(i for i, (change, _) in enumerate(seen) if change is TurnEvent.QUIET)
    paused = [begun for change, begun in seen[last_quiet:] if change is TurnEvent.PAUSED]
    assert paused == [True]  # the words' work had begun when the VAD heard the pause
    assert "capital of france" in heard[0].lower()


async def test_words_after_a_dip_drop_the_work_begun_in_it(settings, models, speech):
    pcm = (
        silence(300)
        + speech("I would like a window seat")
        + silence(60)  # quiet to the level; Silero still hears speech
        + speech("near the front please.")
        + silence(1500)
    )
    seen, heard = await speak(settings, models, pcm)
    changes = [change for change, _ in seen]
    assert TurnEvent.SOUND in changes
    assert changes.count(TurnEvent.SPEECH_STOPPED) == 1
    [words] = heard
    assert "window" in words.lower() and "front" in words.lower()


def _trimmed(pcm: bytes) -> bytes:
    """Speech from its first loud sample to its last: Piper's own trailing quiet cut off."""
    samples = np.frombuffer(pcm, dtype=np.int16)
    loud = np.nonzero(np.abs(samples) > 500)[0]
    return samples[loud[0] : loud[-1] + 1].tobytes()


async def test_a_soft_sound_between_words_does_not_end_a_finished_thought(settings, models, speech):
    """ "Thank you, | that's all" with 350 ms of a breath-like noise (~26 dB under the words)
    between: Silero hears silence, Smart Turn a finished thought, the level a sound."""
    first = _trimmed(speech("Thank you,"))
    level = np.sqrt(np.mean(np.frombuffer(first, dtype=np.int16).astype(np.float64) ** 2))
    rng = np.random.default_rng(0)
    breath = rng.normal(0, level * 0.05, 24 * 350).astype(np.int16).tobytes()
    pcm = silence(300) + first + breath + _trimmed(speech("that's all.")) + silence(1500)
    _, heard = await speak(settings, models, pcm, realtime=True)
    [words] = heard
    assert "thank you" in words.lower() and "all" in words.lower()
