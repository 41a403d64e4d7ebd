"""A browser-direct call seen from the server: a sideband runs the agent and keeps the transcript.

The browser's call goes straight to the Realtime service; voxgate joins it with
``WS {upstream}/realtime?call_id=...`` as a session of its own: engine ``openai`` on that one
connection (no reconnect: a replay would repeat the call's items), the server's agent on top
(its ``session.update`` gives the call the agent's instructions and tools, and it answers the
tool calls exactly as in any other session), and a participant that writes the transcript.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import asdict, dataclass
from typing import Any, Literal

from fastapi import FastAPI

from voxgate.engines.openai.connect import Upstream, open_upstream
from voxgate.engines.openai.engine import OpenAIEngine
from voxgate.protocol import Event
from voxgate.session import EventWriter, Session
from voxgate.settings import Settings

log = logging.getLogger(__name__)

MAX_CALLS = 1000
"""Transcripts kept in memory: the oldest call's goes first."""


@dataclass
class TranscriptEntry:
    """One turn of a call, as heard (``source``: the server's sideband or the client)."""

    role: Literal["user", "assistant"]
    text: str
    item_id: str | None = None
    source: Literal["sideband", "client"] = "sideband"

    def to_json(self) -> dict[str, Any]:
        """The entry as the API returns it."""
        return asdict(self)


class Transcripts:
    """Transcripts by call id, in memory (there is no database yet)."""

    def __init__(self, max_calls: int = MAX_CALLS) -> None:
        self._calls: collections.OrderedDict[str, list[TranscriptEntry]] = collections.OrderedDict()
        self._max_calls = max_calls

    def add(self, call_id: str, entry: TranscriptEntry) -> None:
        """Add a turn; one with an ``item_id`` already present replaces it."""
        entries = self._calls.get(call_id)
        if entries is None:
            entries = self._calls[call_id] = []
            while len(self._calls) > self._max_calls:
                self._calls.popitem(last=False)
        if entry.item_id is not None:
            for i, old in enumerate(entries):
                if old.item_id == entry.item_id and old.role == entry.role:
                    entries[i] = entry
                    return
        entries.append(entry)

    def get(self, call_id: str) -> list[TranscriptEntry] | None:
        """The call's turns in order, or None for a call never seen."""
        return self._calls.get(call_id)


def transcript_entry(ev: Event) -> TranscriptEntry | None:
    """The turn a server event completes, if any."""
    type_ = ev["type"]
    if type_ == "conversation.item.input_audio_transcription.completed":
        text = str(ev.get("transcript") or "").strip()
        return TranscriptEntry("user", text, ev.get("item_id")) if text else None
    if type_ == "response.output_audio_transcript.done":
        return TranscriptEntry("assistant", ev.get("transcript") or "", ev.get("item_id"))
    if type_ == "response.output_text.done":
        return TranscriptEntry("assistant", ev.get("text") or "", ev.get("item_id"))
    if type_ == "conversation.item.done":
        item = ev.get("item") or {}
        if item.get("type") == "message" and item.get("role") == "user":
            texts = [c.get("text") for c in item.get("content") or [] if c.get("text")]
            if texts:
                return TranscriptEntry("user", " ".join(texts), item.get("id"))
    return None


class Sideband:
    """The server's side of one browser-direct call: the agent, and the transcript."""

    def __init__(self, app: FastAPI, call_id: str) -> None:
        settings: Settings = app.state.settings
        # one connection: when it ends, the engine gives up instead of replaying into the call
        self._settings = settings.model_copy(update={"openai_reconnect_attempts": 0})
        self.call_id = call_id
        self._app = app
        self._transcripts: Transcripts = app.state.transcripts
        self._connected = False
        self.closed = False
        self.session = Session(
            f"side_{call_id}",
            lambda config: OpenAIEngine(self._settings, config, connect=self._connect),
            app.state.agent_factory,
        )
        self.writer = EventWriter(self._record, max_pending=settings.client_queue_size)

    async def start(self) -> None:
        """Join the call (the engine connects in the background)."""
        self.session.join(self.writer)
        self._app.state.spawn(self.writer.run())
        await self.session.start()

    async def close(self) -> None:
        """Leave the call; the transcript stays."""
        if self.closed:
            return
        self.closed = True
        self.writer.close()
        self.session.leave(self.writer)
        await self.session.close()
        sidebands: dict[str, Sideband] = self._app.state.sidebands
        if sidebands.get(self.call_id) is self:
            del sidebands[self.call_id]

    async def _connect(self) -> Upstream:
        if self._connected:
            raise ConnectionError(f"call {self.call_id} ended: a sideband does not reconnect")
        self._connected = True
        return await open_upstream(self._settings, call_id=self.call_id)

    async def _record(self, ev: Event) -> None:
        entry = transcript_entry(ev)
        if entry is not None:
            self._transcripts.add(self.call_id, entry)
        elif ev["type"] == "error" and ev["error"].get("code") == "upstream_unavailable":
            log.info("sideband of call %s: the call is over", self.call_id)
            self._app.state.spawn(self.close())


async def attach(app: FastAPI, call_id: str) -> Sideband:
    """Start the sideband of a new call."""
    sideband = Sideband(app, call_id)
    app.state.sidebands[call_id] = sideband
    await sideband.start()
    return sideband


async def close_sidebands(app: FastAPI) -> None:
    """Leave every call (server shutdown)."""
    sidebands: dict[str, Sideband] = getattr(app.state, "sidebands", {})
    for sideband in list(sidebands.values()):
        await sideband.close()
