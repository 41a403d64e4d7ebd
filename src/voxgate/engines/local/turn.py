"""One user utterance in the local engine, and the work started on it before it commits."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from voxgate.engines.core.run import ResponseRun
from voxgate.engines.local.gate import Gate


@dataclass
class Turn:
    """One user utterance: its audio, its transcript (maybe still coming), maybe a reply."""

    item_id: str
    audio: bytes
    transcript: asyncio.Task[tuple[str, float]]
    started_at: float = field(default_factory=time.monotonic)
    reply: ResponseRun | None = None
    gate: Gate | None = None  # where the speculative reply's events wait
    prepare: asyncio.Task[None] | None = None
    judge: asyncio.Task[None] | None = None  # semantic_vad: has the user finished?
    finished: bool = False  # semantic_vad: the model says so
    judgements: int = 0  # semantic_vad: how often the model was asked
    metrics: dict[str, float] = field(default_factory=dict)

    def words(self) -> str | None:
        """The transcript if it is ready (empty if transcription failed)."""
        if not self.transcript.done():
            return None
        if self.transcript.cancelled() or self.transcript.exception() is not None:
            return ""
        return self.transcript.result()[0]

    def drop(self) -> None:
        """The user went on (or the turn is abandoned): stop its work, unseen."""
        self.transcript.cancel()
        if self.judge is not None:
            self.judge.cancel()
        if self.prepare is not None:
            self.prepare.cancel()
        if self.gate is not None:
            self.gate.drop()
        if self.reply is not None:
            self.reply.cancel("turn_detected")
