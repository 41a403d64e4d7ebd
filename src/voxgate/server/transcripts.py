"""Transcripts of browser-direct calls, by call id: what voxgate heard and what clients sent."""

from __future__ import annotations

import collections
from dataclasses import asdict, dataclass
from typing import Any, Literal

from voxgate.protocol import Event

MAX_CALLS = 1000
"""Transcripts kept in memory: the oldest call's goes first."""


@dataclass
class TranscriptEntry:
    """One turn of a call, as heard.

    ``source``: ``sideband`` when voxgate heard it on the call's sideband connection
    (``server/direct_listener.py``), ``client`` when a client posted it.
    """

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
