"""A custom voice around any engine: the inner engine answers in text, a TTS speaks it.

``VoicedEngine`` is an ``Engine`` wrapping another. It asks the inner engine for text (its own
``session.update`` first, then every client ``session.update`` / ``response.create`` asking for
output modalities gets ``["text"]``) and tells the client it speaks, in its own voice
(``session.created`` / ``session.updated`` rewritten). Each inner response becomes a
``VoicedReply`` while the client wants audio. When the user barges in
(``input_audio_buffer.speech_started``) or the client sends ``response.cancel``, the reply ends
here, cut to what was heard, and the inner engine is told with plain client events
(``conversation.item.delete``, then ``conversation.item.create`` of the heard words in the
same place); the echoes of those events are the wrapper's own and the client never sees them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import logging
from collections.abc import AsyncIterator

from voxgate.components.tts import StreamingTextToSpeech, TextToSpeech, streaming
from voxgate.engines import Engine
from voxgate.engines.voiced.reply import Heard, VoicedReply
from voxgate.protocol import Event, new_id

log = logging.getLogger(__name__)

_ITEM_ECHOES = {"conversation.item.added", "conversation.item.created", "conversation.item.done"}


class VoicedEngine:
    """``inner``'s replies spoken by ``tts`` in ``voice`` (the name the client is told).

    ``output_modalities`` is what the client's session starts with (a session configured for
    text gets the inner engine's text until it asks for audio).
    """

    def __init__(
        self,
        inner: Engine,
        tts: TextToSpeech | StreamingTextToSpeech,
        *,
        voice: str,
        output_modalities: list[str] | None = None,
    ) -> None:
        self._inner = inner
        self._tts = streaming(tts)
        self._voice = voice
        self._modalities = list(output_modalities or ["audio"])  # what the client asked for
        self._speed = 1.0  # the session's audio.output.speed, as the inner engine holds it
        self._out: asyncio.Queue[Event | None] = asyncio.Queue()
        self._replies: dict[str, VoicedReply] = {}
        self._item_owner: dict[str, VoicedReply] = {}
        self._own: collections.deque[str] = collections.deque(maxlen=64)  # our event ids
        self._quiet_deletes: set[str] = set()  # items whose deletion is ours, not the client's
        self._echoes: set[str] = set()  # items we re-created: their added/done are ours
        self._fixes: set[asyncio.Task[None]] = set()
        self._closed = False
        own_update = new_id("event")
        self._own_update: str | None = own_update  # until its session.updated
        self._own.append(own_update)
        update: Event = {
            "type": "session.update",
            "event_id": own_update,
            "session": {"type": "realtime", "output_modalities": ["text"]},
        }
        self._configured = asyncio.create_task(inner.send(update))
        self._task = asyncio.create_task(self._run(), name="voiced engine")

    # -- Engine protocol -------------------------------------------------------------------

    async def send(self, ev: Event) -> None:
        """One client event, as the text-answering inner engine needs it."""
        await self._configured  # the inner engine hears ours first
        type_ = ev["type"]
        if type_ == "session.update" and "output_modalities" in ev["session"]:
            self._modalities = list(ev["session"]["output_modalities"] or ["audio"])
            ev = {**ev, "session": {**ev["session"], "output_modalities": ["text"]}}
        elif type_ == "response.create" and (ev.get("response") or {}).get("output_modalities"):
            ev = {**ev, "response": {**ev["response"], "output_modalities": ["text"]}}
        elif type_ == "response.cancel":
            playing = [r for r in self._replies.values() if r.playing and not r.closed]
            for reply in playing:
                self._interrupt(reply, "client_cancelled")
            if playing and all(r.inner_done for r in playing):
                return  # the inner engine has finished: nothing of it left to cancel
        await self._inner.send(ev)

    async def events(self) -> AsyncIterator[Event]:
        """Server events until ``close()`` (or until the inner engine's end)."""
        while (ev := await self._out.get()) is not None:
            yield ev

    async def close(self) -> None:
        """Stop speaking and close the inner engine and the TTS."""
        if self._closed:
            return
        self._closed = True
        for reply in self._replies.values():
            reply.close()
        for task in list(self._fixes):
            task.cancel()
        await self._inner.close()
        await self._tts.aclose()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        self._out.put_nowait(None)

    # -- inner events ----------------------------------------------------------------------

    async def _run(self) -> None:
        async for ev in self._inner.events():
            try:
                self._on_inner(ev)
            except Exception:  # one bad event must not end the conversation
                log.exception("inner event not handled: %.200r", ev)
        for reply in self._replies.values():
            reply.close()
        self._out.put_nowait(None)

    def _on_inner(self, ev: Event) -> None:
        type_ = ev["type"]
        if type_ == "session.updated" and self._own_update is not None:
            self._own_update = None  # the answer to ours: the inner engine answers in text
            return
        if type_ in ("session.created", "session.updated"):
            output = (ev["session"].get("audio") or {}).get("output") or {}
            if isinstance(speed := output.get("speed"), int | float):
                self._speed = float(speed)
            self._put({**ev, "session": self._client_session(ev["session"])})
            return
        if type_ == "error" and ev["error"].get("event_id") in self._own:
            self._on_own_error(ev)
            return
        if type_ == "conversation.item.deleted" and ev["item_id"] in self._quiet_deletes:
            self._quiet_deletes.discard(ev["item_id"])
            return
        item_id = (ev.get("item") or {}).get("id")
        if type_ in _ITEM_ECHOES and item_id in self._echoes:
            if type_ == "conversation.item.done":
                self._echoes.discard(item_id)
            return
        if type_ == "input_audio_buffer.speech_started":
            for reply in list(self._replies.values()):
                self._interrupt(reply, "turn_detected")
        elif self._route(ev):
            return
        self._put(ev)

    def _client_session(self, session: Event) -> Event:
        """The session as the client configured it: speaking, in the custom voice."""
        session = copy.deepcopy(session)
        session["output_modalities"] = list(self._modalities)
        session.setdefault("audio", {}).setdefault("output", {})["voice"] = self._voice
        return session

    def _on_own_error(self, ev: Event) -> None:
        if ev["error"].get("event_id") == self._own_update:
            self._own_update = None
            self._put(ev)  # the inner engine cannot answer in text: the client must know
        else:
            log.warning("the inner engine refused a fix of a reply: %s", ev["error"].get("message"))

    def _route(self, ev: Event) -> bool:
        """Give a response's event to its ``VoicedReply``; False: not one of them."""
        type_ = ev["type"]
        if type_ == "response.created":
            for reply in list(self._replies.values()):
                self._forget(reply)
            if "audio" not in self._modalities:
                return False
            reply = VoicedReply(ev["response"]["id"], self._tts, self._put, speed=self._speed)
            self._replies[reply.id] = reply
            reply.feed(ev)
            return True
        response_id = ev.get("response_id") or (ev.get("response") or {}).get("id")
        found = self._replies.get(response_id) if isinstance(response_id, str) else None
        item_id = (ev.get("item") or {}).get("id")
        if found is None and type_ in ("conversation.item.added", "conversation.item.done"):
            found = self._item_owner.get(item_id or "")
        if found is None:
            return False
        if type_ == "response.done" and ev["response"].get("status") == "failed":
            found.fail(ev)
        else:
            found.feed(ev)
        if type_ == "response.output_item.added" and isinstance(item_id, str):
            self._item_owner[item_id] = found
        elif type_ == "response.done" and found.pending_fix is not None:
            self._fix(found.pending_fix)
        return True

    # -- barge-in --------------------------------------------------------------------------

    def _interrupt(self, reply: VoicedReply, reason: str) -> None:
        heard = reply.interrupt(reason)
        if heard is not None:
            if reply.inner_done:
                self._fix(heard)
            else:
                reply.pending_fix = heard
        self._forget(reply)

    def _fix(self, heard: Heard) -> None:
        """Make the inner engine remember only the words the user heard of its reply."""
        item_id = heard.item_id
        events: list[Event] = [{"type": "conversation.item.delete", "item_id": item_id}]
        self._quiet_deletes.add(item_id)
        if heard.text:
            self._echoes.add(item_id)
            item = {
                "id": item_id,
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": heard.text}],
            }
            previous = heard.previous_item_id or "root"
            events.append(
                {"type": "conversation.item.create", "previous_item_id": previous, "item": item}
            )
        for ev in events:
            ev["event_id"] = new_id("event")
            self._own.append(ev["event_id"])

        async def send_all() -> None:
            for ev in events:
                await self._inner.send(ev)

        task = asyncio.create_task(send_all())
        self._fixes.add(task)
        task.add_done_callback(self._fixes.discard)

    def _forget(self, reply: VoicedReply) -> None:
        """Drop a reply once nothing of it is left to say, swallow or fix."""
        if reply.inner_done and (reply.closed or not reply.playing):
            self._replies.pop(reply.id, None)
            for item_id in reply.item_ids:
                self._item_owner.pop(item_id, None)

    def _put(self, ev: Event) -> None:
        if not self._closed:
            self._out.put_nowait(ev)
