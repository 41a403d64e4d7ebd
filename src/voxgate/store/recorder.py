"""Recording live conversations off the audio path: sessions enqueue, one writer task writes.

A session's ``ConversationRecorder`` turns the events it is shown into writes and only
enqueues them (``observe`` never awaits). The process's ``Recorder`` holds them in one bounded
queue, in order, and a writer task stores them in batches at least every ``interval_s``. A
write the database fails (Postgres restarting, a locked SQLite file) stays at the head of the
queue and is tried again with backoff: nothing is lost while the queue has room; past
``max_pending`` new writes are dropped, counted and logged as errors. A write the database
refuses as bad data is dropped alone (its batch is retried one write at a time). A session's
end flushes what it wrote; a ``kill -9`` loses at most the last ``interval_s``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from voxgate.protocol import Event
from voxgate.store.conversations import Conversations
from voxgate.store.items import restore_events, stored_item, transcript_line, voxgate_item
from voxgate.store.records import (
    ConversationRef,
    DeleteItem,
    EndConversation,
    NewItem,
    PutItem,
    PutMetrics,
    PutSummary,
    Write,
)

log = logging.getLogger(__name__)

MAX_PENDING = 20_000
"""Writes held while the database is away (a few hundred bytes each)."""
INTERVAL_S = 0.5
"""How long a write waits for others to share its batch."""
BATCH_SIZE = 500
RETRY_FIRST_S = 0.25
RETRY_MAX_S = 15.0
WRITE_TIMEOUT_S = 20.0
"""A batch that takes longer counts as failed (a database that stopped answering)."""
RESTORE_ITEMS = 500
"""The most items a resumed conversation gives its new engine (the latest ones)."""
RESTORE_TIMEOUT_S = 3.0
"""A session starts without its history rather than wait longer for the database."""
END_FLUSH_S = 5.0
"""How long a session's end waits for its writes to be stored."""
SUMMARY_SOURCE_CHARS = 3000
"""What a summary reads of a long conversation, its end (~750 tokens for a small local model)."""


def _bad_data(exc: BaseException) -> bool:
    """Whether the database refused the data itself (retrying cannot help)."""
    if isinstance(exc, IntegrityError | DataError):
        return True
    return isinstance(exc, StatementError) and not isinstance(exc, DBAPIError)


class Recorder:
    """The process's write queue to the store, and its writer task."""

    def __init__(
        self,
        conversations: Conversations,
        *,
        max_pending: int = MAX_PENDING,
        interval_s: float = INTERVAL_S,
        batch_size: int = BATCH_SIZE,
        retry_max_s: float = RETRY_MAX_S,
        summaries: bool = True,
        tap: Callable[[Write], None] | None = None,
    ) -> None:
        self.conversations = conversations
        self.summaries = summaries
        """Whether sessions that end are summarized."""
        self.tap = tap  # shown every write, stored or not (the event stream's ``conversation``)
        self._max_pending = max_pending
        self._interval_s = interval_s
        self._batch_size = batch_size
        self._retry_max_s = retry_max_s
        self._pending: collections.deque[Write] = collections.deque()
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._urgent = False
        self._failing = False
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._live: dict[str, ConversationRecorder] = {}
        self.recorded = 0
        """Writes accepted into the queue."""
        self.written = 0
        """Writes done with: stored, or refused (another user's conversation, bad data)."""
        self.dropped = 0
        """Writes lost: the queue was full, or the database refused the data."""
        self.failures = 0
        """Batches the database failed (each tried again)."""

    @property
    def pending(self) -> int:
        """Writes waiting to be stored."""
        return len(self._pending)

    def conversation(self, ref: ConversationRef, *, restore: bool = True) -> ConversationRecorder:
        """A live session's recorder for conversation ``ref.id`` (its ``session.SessionRecorder``).

        ``restore``: a new session gives its engine the stored conversation first.
        """
        recorder = ConversationRecorder(self, ref, restore=restore)
        self._live[ref.id] = recorder
        return recorder

    def live(self, conversation_id: str) -> ConversationRef | None:
        """The conversation a live session records under this id, if any."""
        recorder = self._live.get(conversation_id)
        return recorder.ref if recorder is not None else None

    def record(self, write: Write) -> bool:
        """Queue one write (never waits); False if it was dropped (the queue is full)."""
        if self.tap is not None:
            self.tap(write)
        if self._closed or len(self._pending) >= self._max_pending:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error(
                    "the store's write queue is %s: %d writes lost so far (%d waiting); "
                    "is the database down?",
                    "closed" if self._closed else "full",
                    self.dropped,
                    len(self._pending),
                )
            return False
        self._pending.append(write)
        self.recorded += 1
        if len(self._pending) == 1 or len(self._pending) >= self._batch_size:
            self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="store writer")
        return True

    def waiting_for(self, conversation_id: str) -> bool:
        """Whether writes to this conversation wait in the queue."""
        return any(write.ref.id == conversation_id for write in self._pending)

    async def flush(self, timeout: float | None = None) -> bool:
        """Until every write queued so far is done with; False if ``timeout`` came first."""
        target = self.recorded
        if self.written >= target:
            return True
        self._urgent = True
        self._wake.set()
        try:
            async with asyncio.timeout(timeout):
                while self.written < target:
                    await self._progress.wait()
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float = 10.0) -> None:
        """Store what waits (up to ``timeout``), then stop; what could not be stored is logged."""
        flushed = await self.flush(timeout)
        self._closed = True
        if not flushed:
            log.error("the store is unavailable: %d writes are lost at shutdown", self.pending)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    # -- the writer ------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = RETRY_FIRST_S
        while True:
            if not self._pending:
                self._urgent = False
                self._wake.clear()
                await self._wake.wait()
                continue
            if not self._urgent and len(self._pending) < self._batch_size:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._interval_s):
                        await self._wake.wait()  # a full batch or a flush goes at once
            batch = list(itertools.islice(self._pending, self._batch_size))
            try:
                try:
                    async with asyncio.timeout(WRITE_TIMEOUT_S):
                        refused = await self.conversations.apply(batch)
                except Exception as exc:
                    if not _bad_data(exc):
                        raise
                    await self._one_by_one(len(batch))
                else:
                    self._done(len(batch), refused)
            except Exception as exc:
                self.failures += 1
                if not self._failing:
                    why = f"{type(exc).__name__}: {str(exc)[:200]}"
                    log.warning("the store failed a write (%s); retrying", why)
                self._failing = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._retry_max_s)
                continue
            if self._failing:
                log.warning("the store is back; %d writes wait", len(self._pending))
            self._failing = False
            backoff = RETRY_FIRST_S

    async def _one_by_one(self, count: int) -> None:
        """Store the head's ``count`` writes alone, dropping those the database refuses."""
        for _ in range(count):
            write = self._pending[0]
            try:
                async with asyncio.timeout(WRITE_TIMEOUT_S):
                    refused = await self.conversations.apply([write])
            except Exception as exc:
                if not _bad_data(exc):
                    raise
                self.dropped += 1
                log.error("the store refused a write to %s: %s", write.ref.id, exc)
                refused = []
            self._done(1, refused)

    def _done(self, count: int, refused: list[Write]) -> None:
        for write in refused:
            kind = type(write).__name__
            log.warning("not stored: %s belongs to another user (%s)", write.ref.id, kind)
        for _ in range(count):
            self._pending.popleft()
        self.written += count
        progress, self._progress = self._progress, asyncio.Event()
        progress.set()


class ConversationRecorder:
    """What one live session records (a ``session.SessionRecorder``): its completed items.

    User transcripts and typed messages, the agent's text and transcripts, function calls and
    their outputs, system messages, handoffs, background runs' messages, and turn metrics. A
    user message is placed when it is added (its transcript may come after the reply), the
    rest when done. Items the session restored are not recorded again.
    """

    def __init__(self, recorder: Recorder, ref: ConversationRef, *, restore: bool) -> None:
        self._recorder = recorder
        self.ref = ref
        self._restore = restore
        self._last: dict[str, tuple[int, bool]] = {}  # per item_id: last digest, had text
        self._lines: dict[str, str | None] = {}  # the conversation's lines, in order, by item
        self._restored: set[str] = set()
        self._user_turns = 0
        self._wrote = False
        self._closed = False

    # -- SessionRecorder -------------------------------------------------------------------

    async def opening_events(self) -> list[Event]:
        """The stored conversation, for the new engine (an older session's writes first)."""
        if not self._restore:
            return []
        try:
            async with asyncio.timeout(RESTORE_TIMEOUT_S):
                if self._recorder.waiting_for(self.ref.id):  # an earlier session's last words
                    await self._recorder.flush()
                stored = await self._recorder.conversations.get(self.ref.id, last=RESTORE_ITEMS)
        except Exception as exc:
            log.warning("conversation %s starts without its history: %r", self.ref.id, exc)
            return []
        if stored is None:
            return []
        if not self.ref.admin and stored.info.user_id != self.ref.user_id:
            log.warning("conversation %s belongs to another user: not restored", self.ref.id)
            return []
        events = restore_events(stored.items)
        self._restored = {ev["item"]["id"] for ev in events}
        for ev in events:
            item = ev["item"]
            if item["type"] == "message":
                self._line(item["id"], "message", item["role"], item["content"][0]["text"])
        return events

    def observe(self, ev: Event) -> None:
        """One event of the session (the engine's, or voxgate's own): queue what it completes."""
        handler = _HANDLERS.get(ev["type"])
        if handler is not None:
            handler(self, ev)

    def summary_source(self) -> str | None:
        """The conversation as "User: …" / "Agent: …" lines.

        None if the user said nothing in this session (or summaries are off): no new summary.
        """
        if not self._user_turns or not self._recorder.summaries:
            return None
        return "\n".join(line for line in self._lines.values() if line)[-SUMMARY_SOURCE_CHARS:]

    def summarized(self, text: str) -> None:
        """The session's summary, stored as the conversation's last item."""
        if text.strip():
            self._write(PutSummary(self.ref, text.strip()))

    async def close(self) -> None:
        """The session ended: mark the conversation ended and store what waits."""
        if self._closed:
            return
        self._closed = True
        if self._wrote:
            self._write(EndConversation(self.ref))
            await self._recorder.flush(END_FLUSH_S)
        if self._recorder._live.get(self.ref.id) is self:
            del self._recorder._live[self.ref.id]

    # -- events ----------------------------------------------------------------------------

    def _added(self, ev: Event) -> None:
        item = ev["item"]
        if item.get("type") == "message" and item.get("role") == "user":
            self._item(item)  # its place now; a transcript may complete it later

    def _item(self, item: dict[str, Any]) -> None:
        if item.get("id") in self._restored:
            return
        new = stored_item(item)
        if new is not None:
            self._put(new)

    def _done(self, ev: Event) -> None:
        self._item(ev["item"])

    def _transcribed(self, ev: Event) -> None:
        item_id = ev.get("item_id")
        text = str(ev.get("transcript") or "").strip()
        if text:
            self._put(NewItem("message", text, role="user", item_id=item_id))
        elif item_id in self._last:  # nothing was said: the placeholder goes
            self._deleted({"item_id": item_id})

    def _reply_text(self, ev: Event) -> None:
        text = str(ev.get("transcript") or ev.get("text") or "")
        self._put(NewItem("message", text.strip(), role="assistant", item_id=ev.get("item_id")))

    def _deleted(self, ev: Event) -> None:
        item_id = ev.get("item_id")
        if isinstance(item_id, str) and self._last.pop(item_id, None) is not None:
            self._lines.pop(item_id, None)
            self._write(DeleteItem(self.ref, item_id))

    def _voxgate(self, ev: Event) -> None:
        new = voxgate_item(ev)
        if new is not None:
            self._write(PutItem(self.ref, new))

    def _metrics(self, ev: Event) -> None:
        data = {k: v for k, v in ev.items() if k not in ("type", "event_id", "response_id")}
        self._write(PutMetrics(self.ref, ev.get("response_id"), data))

    def _put(self, new: NewItem) -> None:
        if new.item_id is not None:
            last, digest = self._last.get(new.item_id), new.digest()
            if last is not None and not new.text and last[1]:
                return  # an empty form never replaces a text already recorded
            if last is not None and last[0] == digest:
                return
            self._last[new.item_id] = (digest, bool(new.text))
        if new.type == "message" and new.role == "user" and new.text:
            self._user_turns += 1
        self._line(new.item_id or f"#{len(self._lines)}", new.type, new.role, new.text)
        self._write(PutItem(self.ref, new))

    def _line(self, key: str, type_: str, role: str | None, text: str) -> None:
        if type_ == "message":  # an empty one holds its place for its transcript
            self._lines[key] = transcript_line(type_, role, text)

    def _write(self, write: Write) -> None:
        self._wrote = True
        self._recorder.record(write)


_HANDLERS = {
    "conversation.item.added": ConversationRecorder._added,
    "conversation.item.done": ConversationRecorder._done,
    "conversation.item.input_audio_transcription.completed": ConversationRecorder._transcribed,
    "response.output_audio_transcript.done": ConversationRecorder._reply_text,
    "response.output_text.done": ConversationRecorder._reply_text,
    "conversation.item.deleted": ConversationRecorder._deleted,
    "voxgate.handoff": ConversationRecorder._voxgate,
    "voxgate.run.started": ConversationRecorder._voxgate,
    "voxgate.run.event": ConversationRecorder._voxgate,
    "voxgate.run.status": ConversationRecorder._voxgate,
    "voxgate.metrics": ConversationRecorder._metrics,
}
