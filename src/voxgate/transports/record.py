"""Record-and-send: one HTTP request's turn in a session, driven with plain GA client events.

The older flow kept beside live voice: a client posts a recorded clip (or a text) and gets the
transcript, the agent's reply and its audio in one answer. A request joins its session like any
client, as a ``Recorder`` (an ``EventWriter`` participant), so the session's agent runs the
tools and the conversation is the same one a live client of that session id speaks in.

What a request needs of the session it sets for its own duration and puts back after
(``session.update``): no server turn detection while it sends a clip (``append`` + ``commit``,
then the transcript), and its reply's output modalities. A conversation takes one request at a
time (``Conversations``), and a request that would take the turn detection away from a live
client is refused. A reply is every response from the request's own ``response.create`` until
the agent is idle (``SessionAgent.idle``): a tool call's output brings another response.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from voxgate.protocol import Event, new_id, text_message
from voxgate.session import ENDED, EventWriter, Session, SessionRegistry

log = logging.getLogger(__name__)

TRANSCRIPTION_MODEL = "gpt-4o-mini-transcribe"
"""Asked of an engine whose session does not transcribe (an upstream's default)."""
APPEND_BYTES = 512 * 1024
"""Audio per ``input_audio_buffer.append``, well within ``max_audio_append_bytes``."""
RESTORE_TIMEOUT_S = 5.0
POLL_S = 0.5
"""How often a waiting request looks at the agent even without events (a safety net)."""

Spawn = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]


class RecordError(Exception):
    """A request the conversation could not serve; ``status`` is its HTTP status."""

    def __init__(self, status: int, message: str, *, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class Reply:
    """What the agent said and did in answer to one request."""

    text: str = ""
    audio: bytearray = field(default_factory=bytearray)
    """PCM16 24 kHz, every response's audio in order (empty for a text reply)."""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """``{"name", "call_id", "arguments", "output"}`` per function call, in order."""
    status: str = "completed"
    """The last response's status."""


class Recorder(EventWriter):
    """One request's participant: keeps the session's events as they come, in order."""

    def __init__(self, session: Session) -> None:
        super().__init__(self._unused, max_pending=1)
        self.session = session
        self._events: collections.deque[Event] = collections.deque()
        self._arrived = asyncio.Event()
        self._ours: set[str] = set()  # event_ids of the client events this request sent
        self._state: dict[str, Any] | None = None
        self._restore: dict[str, Any] = {}

    async def _unused(self, ev: Event) -> None:  # pragma: no cover - offer() delivers
        return None

    def offer(self, ev: Event) -> None:
        """Keep every event (the request reads them all, and its reply is bounded in time)."""
        self._events.append(ev)
        self._arrived.set()

    # -- the session's configuration, for this request ----------------------------------------

    async def configure(self, *, audio_input: bool, modalities: list[str] | None) -> None:
        """Set what the request needs; ``restore`` puts back what was changed.

        ``audio_input``: no turn detection (and a transcription model). ``modalities``: the
        reply's output modalities, set only while no live client shares the session.
        """
        state = await self._session_state()
        audio_in = (state.get("audio") or {}).get("input") or {}
        live = bool(self.session.callers - {self})
        changes: dict[str, Any] = {}
        if audio_input:
            if audio_in.get("turn_detection") is not None:
                if live:
                    raise RecordError(
                        409,
                        "this conversation is live on another connection that detects turns: "
                        "speak there, or end that connection first",
                        code="conversation_live",
                    )
                changes["turn_detection"] = None
                self._restore["turn_detection"] = audio_in["turn_detection"]
            if not audio_in.get("transcription"):
                changes["transcription"] = {"model": TRANSCRIPTION_MODEL}
        update: dict[str, Any] = {"type": "realtime"}
        if changes:
            update["audio"] = {"input": changes}
        current = state.get("output_modalities")
        if modalities is not None and not live and current and current != modalities:
            update["output_modalities"] = modalities
            self._restore["output_modalities"] = current
        if len(update) > 1:
            await self._update(update, wait=True)

    async def restore(self) -> None:
        """Put back what ``configure`` changed (waits for it: the next request reads it)."""
        restore, self._restore = self._restore, {}
        update: dict[str, Any] = {"type": "realtime"}
        if "turn_detection" in restore:
            update["audio"] = {"input": {"turn_detection": restore["turn_detection"]}}
        if "output_modalities" in restore:
            update["output_modalities"] = restore["output_modalities"]
        if len(update) == 1 or self.session.ended.is_set():
            return
        try:
            async with asyncio.timeout(RESTORE_TIMEOUT_S):
                await self._update(update, wait=True)
        except (TimeoutError, RecordError) as exc:
            log.warning("session %s: its configuration was not put back: %s", self.session.id, exc)

    async def _session_state(self) -> dict[str, Any]:
        """The session as the engine last reported it, once this participant has been told."""
        while self._state is None:
            ev = await self._next()
            if ev["type"] in ("session.created", "session.updated"):
                self._state = ev["session"]
        return self.session.state or self._state

    async def _update(self, update: dict[str, Any], *, wait: bool) -> None:
        await self._send({"type": "session.update", "session": update})
        while wait:
            ev = await self._next()
            if ev["type"] == "session.updated" and _applied(ev["session"], update):
                return

    # -- a recorded clip -------------------------------------------------------------------------

    async def transcribe(self, pcm: bytes) -> tuple[str, str]:
        """Send the clip as the user's turn: ``(item_id, transcript)``; no reply is asked."""
        await self._send({"type": "input_audio_buffer.clear"})  # a live client's leftovers
        for start in range(0, len(pcm), APPEND_BYTES):
            await self._send(
                {"type": "input_audio_buffer.append", "audio": pcm[start : start + APPEND_BYTES]}
            )
        await self._send({"type": "input_audio_buffer.commit"})
        item_id: str | None = None
        while True:
            ev = await self._next()
            type_ = ev["type"]
            if type_ == "input_audio_buffer.committed" and item_id is None:
                item_id = ev["item_id"]
            if item_id is None or ev.get("item_id") != item_id:
                continue
            if type_ == "conversation.item.input_audio_transcription.completed":
                transcript = str(ev.get("transcript") or "").strip()
                if not transcript:
                    await self._send({"type": "conversation.item.delete", "item_id": item_id})
                    raise RecordError(422, "no speech was heard in the recording", code="no_speech")
                return item_id, transcript
            if type_ == "conversation.item.input_audio_transcription.failed":
                message = (ev.get("error") or {}).get("message") or "transcription failed"
                raise RecordError(
                    502, f"the engine could not transcribe: {message}", code="transcription_failed"
                )

    # -- the agent's reply -----------------------------------------------------------------------

    async def say(self, text: str) -> None:
        """A typed user turn: stops a reply in progress (as the ``text`` shortcut does)."""
        await self.session.interrupt()
        await self._send({"type": "conversation.item.create", "item": text_message(text)})

    async def reply(self) -> Reply:
        """Ask for a response; collect it and the agent's further ones until the agent is idle."""
        await self._send({"type": "response.create"})
        reply, texts = Reply(), []
        outputs: dict[str, str] = {}
        running: set[str] = set()
        started = False
        while not (started and not running and self._agent_idle()):
            ev = await self._next(poll=started)
            if ev is None:
                continue
            type_ = ev["type"]
            if type_ == "response.created":
                started = True
                running.add(ev["response"]["id"])
            elif type_ == "response.output_audio.delta" and ev.get("response_id") in running:
                reply.audio += ev["delta"]
            elif type_ in ("conversation.item.added", "conversation.item.done"):
                item = ev["item"]
                if item.get("type") == "function_call_output":
                    outputs[item.get("call_id", "")] = str(item.get("output", ""))
            elif type_ == "response.done" and ev["response"]["id"] in running:
                running.discard(ev["response"]["id"])
                reply.status = ev["response"].get("status", "completed")
                for item in ev["response"].get("output") or []:
                    if item.get("type") == "function_call":
                        reply.tool_calls.append(
                            {k: item.get(k) for k in ("name", "call_id", "arguments")}
                        )
                    elif item.get("type") == "message":
                        texts += [_said(part) for part in item.get("content") or []]
        for call in reply.tool_calls:
            call["output"] = outputs.get(call["call_id"])
        reply.text = " ".join(t.strip() for t in texts if t and t.strip())
        return reply

    async def cancel(self) -> None:
        """Stop the reply in progress (a request that gave up on it)."""
        with contextlib.suppress(Exception):
            await self.session.interrupt()

    # -- events ----------------------------------------------------------------------------------

    def _agent_idle(self) -> bool:
        agent = self.session.agent
        return not self._events and (agent is None or agent.idle)

    async def _send(self, ev: Event) -> str:
        event_id = new_id("event")
        self._ours.add(event_id)
        try:
            await self.session.send({**ev, "event_id": event_id})
        except Exception as exc:  # ProtocolError: the session has ended
            raise RecordError(
                503, f"the conversation cannot go on: {exc}", code="session_ended"
            ) from None
        return event_id

    async def _next(self, *, poll: bool = False) -> Any:
        """The next event; with ``poll``, None after ``POLL_S`` without one."""
        while not self._events:
            self._arrived.clear()
            if poll:
                try:
                    async with asyncio.timeout(POLL_S):
                        await self._arrived.wait()
                except TimeoutError:
                    return None
            else:
                await self._arrived.wait()
        ev = self._events.popleft()
        if ev["type"] == ENDED:
            raise RecordError(
                503, f"the conversation ended: {ev.get('reason')}", code="session_ended"
            )
        if ev["type"] == "error" and ev["error"].get("event_id") in self._ours:
            raise _refused(ev["error"])
        return ev


def _refused(error: dict[str, Any]) -> RecordError:
    """The engine's ``error`` for one of the request's own events, as the request's answer."""
    code = error.get("code")
    if code == "input_audio_buffer_commit_empty":
        return RecordError(422, "the recording is too short", code="audio_too_short")
    if code == "conversation_already_has_active_response":
        return RecordError(409, "the agent is still replying", code="reply_in_progress")
    return RecordError(
        502, f"the engine refused the request: {error.get('message')}", code="engine_refused"
    )


def _applied(session: dict[str, Any], update: dict[str, Any]) -> bool:
    """Whether a reported session holds what ``update`` set (an agent's update comes first)."""
    if (
        "output_modalities" in update
        and session.get("output_modalities") != update["output_modalities"]
    ):
        return False
    wanted = ((update.get("audio") or {}).get("input")) or {}
    audio_in = (session.get("audio") or {}).get("input") or {}
    if "turn_detection" in wanted and (audio_in.get("turn_detection") is None) != (
        wanted["turn_detection"] is None
    ):
        return False
    return "transcription" not in wanted or bool(audio_in.get("transcription"))


def _said(part: dict[str, Any]) -> str:
    return str(part.get("text") or part.get("transcript") or "")


@dataclass
class _Held:
    session: Session
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    release: asyncio.Task[Any] | None = None


class Conversations:
    """Record-and-send's sessions: one request at a time each, kept ``keep_s`` after the last.

    A session that no live client holds would close when its request leaves; it is kept so the
    next request with its ``conversation_id`` continues the conversation.
    """

    def __init__(self, registry: SessionRegistry, spawn: Spawn, *, keep_s: float) -> None:
        self._registry = registry
        self._spawn = spawn
        self._keep_s = keep_s
        self._held: dict[str, _Held] = {}

    def __len__(self) -> int:
        return len(self._held)

    @contextlib.asynccontextmanager
    async def turn(
        self, session: Session, *, keep: bool = True, wait_s: float | None = None
    ) -> AsyncIterator[Recorder]:
        """Join ``session`` for one request once the one before has left (``wait_s`` at most).

        The configuration the request changed is put back as it leaves; without ``keep`` the
        session closes then (a one-off transcription).
        """
        held = self._held.get(session.id)
        if held is None or held.session is not session:
            held = self._held[session.id] = _Held(session)
        held.users += 1
        if held.release is not None:
            held.release.cancel()
            held.release = None
        try:
            try:
                async with asyncio.timeout(wait_s):
                    await held.lock.acquire()
            except TimeoutError:
                raise RecordError(
                    504, "the conversation's previous request is still running", code="busy"
                ) from None
            try:
                recorder = Recorder(session)
                session.join(recorder)
                try:
                    try:
                        await session.start()
                    except Exception as exc:  # ProtocolError: it refused the configuration
                        raise RecordError(
                            502,
                            f"the conversation's engine did not start: {exc}",
                            code="engine_failed",
                        ) from None
                    yield recorder
                finally:
                    await recorder.restore()
                    session.leave(recorder)
                    recorder.close()
            finally:
                held.lock.release()
        finally:
            held.users -= 1
            if held.users == 0:
                held.release = self._spawn(self._release(held, self._keep_s if keep else 0.0))

    async def _release(self, held: _Held, after_s: float) -> None:
        """Close the session once it has been left alone for ``after_s`` (live clients aside)."""
        if after_s:
            await asyncio.sleep(after_s)
        if held.users:
            return
        if self._held.get(held.session.id) is held:
            del self._held[held.session.id]
        await self._registry.release(held.session)
