"""Engine ``openai``: a backend-owned OpenAI Realtime session (OpenAI, Azure, or any server).

Client events go upstream as they are, and upstream events come back, through an ``Upstream``
(``connect.py``: the SDK's WebSocket, or a WebRTC call). When the connection drops, the engine
reconnects with backoff, sends the session configuration again and replays the conversation's
items (the user hears a pause); a response cut off by the drop ends ``failed`` (its partial
items are deleted) and is asked for again.
Each ``response.done`` is followed by a ``voxgate.metrics`` event with its timings, usage and
cost; the response that answers a spoken turn also carries the VAD's delay.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from voxgate.engines.core.response import response_object
from voxgate.engines.openai.connect import Upstream, UpstreamClosed, open_upstream
from voxgate.engines.openai.conversation import Conversation
from voxgate.engines.openai.pricing import cost_usd, price_for
from voxgate.observability import METRICS
from voxgate.protocol import Event, error_event, event, new_id
from voxgate.settings import Settings

log = logging.getLogger(__name__)

PCM = {"type": "audio/pcm", "rate": 24000}
MAX_PENDING = 3000
"""Client events held while the upstream reconnects (~60 s of 20 ms audio appends)."""
_OWN = "event_vxg"  # event_id prefix of what the engine itself sends upstream
_ITEM_ECHOES = {"conversation.item.added", "conversation.item.created", "conversation.item.done"}


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` deep-merged into ``base`` (in place); non-dict values replace."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def initial_session(settings: Settings, session: Event | None) -> Event:
    """The session configuration the engine (re)sends upstream on every connection."""
    config: Event = {
        "type": "realtime",
        "instructions": settings.instructions,
        "audio": {"input": {"format": dict(PCM)}, "output": {"format": dict(PCM)}},
    }
    if settings.openai_voice:
        config["audio"]["output"]["voice"] = settings.openai_voice
    merge(config, session or {})
    config["audio"]["input"]["format"] = dict(PCM)  # formats are converted at the edges
    config["audio"]["output"]["format"] = dict(PCM)
    return config


def describe_session(settings: Settings, session: Event | None) -> Event:
    """What a session would start as (for client secrets), before any connection."""
    return {
        "object": "realtime.session",
        "id": new_id("sess"),
        "model": settings.openai_model,
        **initial_session(settings, session),
    }


def _opener(settings: Settings) -> Callable[[], Awaitable[Upstream]]:
    if settings.openai_transport == "webrtc":
        from voxgate.engines.openai.webrtc import open_webrtc_upstream

        return lambda: open_webrtc_upstream(settings)
    return lambda: open_upstream(settings)


_OUTPUT_DELTAS = {
    "response.output_audio.delta",
    "response.output_audio_transcript.delta",
    "response.output_text.delta",
    "response.function_call_arguments.delta",
}


@dataclass
class _Response:
    id: str
    started: float = field(default_factory=time.monotonic)
    first_output: float | None = None
    first_audio: float | None = None
    items: list[str] = field(default_factory=list)
    turn: dict[str, float] = field(default_factory=dict)  # the spoken turn it answers


class OpenAIEngine:
    """One upstream Realtime conversation that survives dropped connections."""

    def __init__(
        self,
        settings: Settings,
        session: Event | None = None,
        *,
        connect: Callable[[], Awaitable[Upstream]] | None = None,
    ) -> None:
        self._settings = settings
        self._connect = connect or _opener(settings)
        self._session = initial_session(settings, session)
        self._conversation = Conversation()
        self._out: asyncio.Queue[Event | None] = asyncio.Queue()
        self._pending: collections.deque[Event] = collections.deque()
        self._upstream: Upstream | None = None
        self._ready = False
        self._announced = False  # the client has had its session.created
        self._upstream_created: Event | None = None
        self._own_update: str | None = None  # event_id of the session.update being answered
        # client session.updates sent up, not yet answered: the upstream applies each or refuses
        # it whole, and only what it applied is sent again after a reconnect
        self._updates: collections.deque[Event] = collections.deque()
        self._echoes: set[str] = set()  # replayed item ids whose echoes are swallowed
        self._response: _Response | None = None
        self._resume_response = False
        self._sent_audio = 0  # bytes of input audio sent on this connection
        self._turn_detection: Event | None = None  # as the upstream last reported it
        self._turn: dict[str, float] = {}  # the spoken turn's figures, for its response
        self._price = price_for(settings.openai_model)
        self._closed = False
        self.reconnects = 0
        self._task = asyncio.create_task(self._run(), name="openai engine")

    # -- Engine protocol -------------------------------------------------------------------

    async def send(self, ev: Event) -> None:
        """Forward one client event (held while the upstream reconnects)."""
        if ev["type"] == "session.update":
            ev = {**ev, "event_id": ev.get("event_id") or new_id("event")}
            self._updates.append(ev)
        if self._ready and self._upstream is not None:
            with contextlib.suppress(UpstreamClosed):  # the reader reconnects
                await self._upstream.send(ev)
                self._count_audio(ev)
                return
        if len(self._pending) >= MAX_PENDING:
            dropped = self._pending.popleft()
            self._updates = collections.deque(u for u in self._updates if u is not dropped)
            log.warning("upstream away too long: dropping the oldest held client event")
        self._pending.append(ev)

    async def events(self) -> AsyncIterator[Event]:
        """Server events until ``close()`` (or until the upstream is lost for good)."""
        while (ev := await self._out.get()) is not None:
            yield ev

    async def close(self) -> None:
        """Close the upstream connection; ``events()`` ends."""
        if self._closed:
            return
        self._closed = True
        if self._upstream is not None:
            with contextlib.suppress(Exception):
                await self._upstream.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        self._out.put_nowait(None)

    # -- connection ------------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while not self._closed:
            try:
                upstream = await self._connect()
            except Exception as exc:
                if attempt >= self._settings.openai_reconnect_attempts:
                    self._give_up(exc)
                    return
                # jittered: the sessions a dropped upstream cut off do not all call back at once
                delay = min(0.2 * 2**attempt, 5.0) * random.uniform(0.5, 1.5)
                attempt += 1
                log.warning("upstream connect failed (%r); retry %d in %.1fs", exc, attempt, delay)
                await asyncio.sleep(delay)
                continue
            self._upstream = upstream
            try:
                await self._begin(upstream)
                while True:
                    ev = await upstream.recv()
                    try:
                        self._on_upstream(ev)
                    except Exception:  # one bad event must not end the conversation
                        log.exception("upstream event not handled: %.200r", ev)
                    attempt = 0
            except UpstreamClosed as exc:
                log.warning("upstream connection dropped: %s", exc)
            finally:
                self._upstream, self._ready = None, False
            if not self._closed:
                self._on_drop()

    async def _begin(self, upstream: Upstream) -> None:
        """Configure a fresh connection, rebuild the conversation, then pass client events."""
        resumed = self._announced
        self._sent_audio = 0  # the upstream's audio clock starts again
        self._own_update = new_id(_OWN)
        update = {"type": "session.update", "event_id": self._own_update, "session": self._session}
        await upstream.send(update)
        if resumed:
            self.reconnects += 1
            for create in self._conversation.replay():
                self._echoes.add(create["item"]["id"])
                await upstream.send({**create, "event_id": new_id(_OWN)})
            if self._resume_response:
                self._resume_response = False
                await upstream.send({"type": "response.create", "event_id": new_id(_OWN)})
        while self._pending:  # an event leaves the queue only once it has been sent
            await upstream.send(self._pending[0])
            self._count_audio(self._pending.popleft())
        self._ready = True

    def _give_up(self, exc: Exception) -> None:
        log.error("upstream unreachable, giving up: %r", exc)
        self._put(
            error_event(
                f"the realtime upstream is unreachable: {exc}",
                code="upstream_unavailable",
                type_="server_error",
            )
        )
        self._out.put_nowait(None)

    def _on_drop(self) -> None:
        """End what the dropped connection was doing, so the client's view stays consistent."""
        self._echoes.clear()
        self._own_update = None
        held = [u for u in self._updates if any(u is ev for ev in self._pending)]
        for update in self._updates:  # sent, unanswered: assumed applied, sent with the session
            if not any(update is h for h in held):
                merge(self._session, update["session"])
        self._updates = collections.deque(held)  # still to be sent, and answered then
        response, self._response = self._response, None
        if response is None:
            return
        self._resume_response = True
        details = {
            "type": "failed",
            "error": {
                "type": "server_error",
                "code": "upstream_disconnected",
                "message": "the upstream connection dropped; reconnecting and asking again",
            },
        }
        failed = response_object(response.id, "failed", audio=None, details=details)
        self._put(event("response.done", response=failed))
        self._metrics(failed, response)
        for item_id in response.items:
            self._conversation.remove(item_id)
            self._put(event("conversation.item.deleted", item_id=item_id))

    # -- upstream events -------------------------------------------------------------------

    def _on_upstream(self, ev: Event) -> None:
        type_ = ev["type"]
        if type_ in ("session.created", "session.updated"):  # its VAD, for the VAD's delay
            audio_in = (ev["session"].get("audio") or {}).get("input") or {}
            self._turn_detection = audio_in.get("turn_detection")
        if type_ == "session.created":
            self._upstream_created = ev  # the client is told via our own session.update
            return
        if type_ == "session.updated" and self._own_update is not None:
            self._own_update = None
            if not self._announced:
                self._announce(ev["session"])
            return
        if type_ == "error" and str(ev["error"].get("event_id") or "").startswith(_OWN):
            self._on_own_error(ev)
            return
        self._follow_update(ev)
        item_id = (ev.get("item") or {}).get("id")
        if type_ in _ITEM_ECHOES and item_id in self._echoes:
            self._conversation.observe(ev)
            if type_ == "conversation.item.done":
                self._echoes.discard(item_id)
            return
        self._conversation.observe(ev)
        self._follow_response(ev)
        self._put(ev)
        if type_ == "response.done":
            current, self._response = self._response, None
            if current is not None and current.id != ev["response"].get("id"):
                current = None
            self._metrics(ev["response"], current)

    def _follow_update(self, ev: Event) -> None:
        """Keep a client ``session.update`` once the upstream has applied it; drop a refused one."""
        if not self._updates:
            return
        if ev["type"] == "session.updated":
            merge(self._session, self._updates.popleft()["session"])
        elif ev["type"] == "error":
            refused = ev["error"].get("event_id")
            self._updates = collections.deque(u for u in self._updates if u["event_id"] != refused)

    def _announce(self, session: Event) -> None:
        self._announced = True
        self._put(event("session.created", session=session))

    def _on_own_error(self, ev: Event) -> None:
        if ev["error"].get("event_id") == self._own_update:
            self._own_update = None
            self._put(ev)  # the session configuration was refused: the client must know
            if not self._announced and self._upstream_created is not None:
                self._announce(self._upstream_created["session"])
        else:
            log.warning("upstream refused a replayed event: %s", ev["error"].get("message"))

    def _follow_response(self, ev: Event) -> None:
        type_ = ev["type"]
        if type_ == "input_audio_buffer.speech_stopped":
            end_ms = ev.get("audio_end_ms")
            self._turn = {"vad_delay_ms": self._vad_delay_ms(end_ms)} if end_ms is not None else {}
        elif type_ == "response.created":
            self._response = _Response(ev["response"]["id"], turn=self._turn)
            self._turn = {}
        if self._response is None:
            return
        if type_ == "response.output_item.added":
            self._response.items.append(ev["item"]["id"])
        elif type_ in _OUTPUT_DELTAS:
            now = time.monotonic()
            if self._response.first_output is None:
                self._response.first_output = now
            if type_ == "response.output_audio.delta" and self._response.first_audio is None:
                self._response.first_audio = now

    def _count_audio(self, ev: Event) -> None:
        if ev["type"] == "input_audio_buffer.append":
            self._sent_audio += len(ev["audio"])

    def _vad_delay_ms(self, audio_end_ms: float) -> float:
        """From the end of speech to its detection: the audio sent since, as the upstream hears.

        The spec's ``audio_end_ms`` includes ``server_vad``'s silence window, so the speech
        itself ended that much earlier (``semantic_vad`` names no window: not counted).
        """
        sent_ms = self._sent_audio / 2 / 24  # PCM16 at 24 kHz
        td = self._turn_detection or {}
        silence = td.get("silence_duration_ms") if td.get("type") == "server_vad" else None
        return max(sent_ms - audio_end_ms, 0.0) + (silence or 0)

    def _metrics(self, response: Event, current: _Response | None) -> None:
        usage = response.get("usage") or {}
        metrics: dict[str, float] = {}
        if current is not None:
            started = current.started
            metrics.update(current.turn, response_ms=(time.monotonic() - started) * 1000)
            if current.first_output is not None:
                metrics["llm_first_token_ms"] = (current.first_output - started) * 1000
            if current.first_audio is not None:
                metrics["first_audio_ms"] = (current.first_audio - started) * 1000
        self._put(
            event(
                METRICS,
                response_id=response.get("id"),
                metrics=metrics,
                model=self._settings.openai_model,
                usage=usage,
                cost_usd=cost_usd(usage, self._price) if self._price and usage else None,
            )
        )

    def _put(self, ev: Event) -> None:
        if not self._closed:
            self._out.put_nowait(ev)
