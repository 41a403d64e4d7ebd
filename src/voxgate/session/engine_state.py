"""What a session knows of its engine from the events it sends: configuration, reply, commit.

The client shortcuts (``interrupt``, ``commit_audio``) work for any engine because the session
follows its event stream: the GA ``session`` object last reported, the response in progress,
whether the server detects turns and answers a commit itself, and the last ``error``.
"""

from __future__ import annotations

from typing import Any

from voxgate.protocol import Event, new_id


class EngineState:
    """The engine as its events tell it."""

    def __init__(self) -> None:
        self.session: dict[str, Any] | None = None
        """The GA ``session`` object last reported (None before the engine started)."""
        self.active_response_id: str | None = None
        """The response in progress, if any."""
        self.last_error: Event | None = None
        """The engine's last event if it was an ``error`` (why it may have ended)."""
        self._respond_after: str | None = None  # a commit to answer once committed

    def observe(self, ev: Event) -> bool:
        """Follow one engine event; True when a ``response.create`` is owed now."""
        type_ = ev["type"]
        self.last_error = ev if type_ == "error" else None
        if type_ == "input_audio_buffer.committed" and self._respond_after is not None:
            self._respond_after = None
            return True
        if type_ == "error" and self._respond_after is not None:
            if ev["error"].get("event_id") == self._respond_after:
                self._respond_after = None  # the commit was refused: nothing to answer
        elif type_ in ("session.created", "session.updated"):
            self.session = ev["session"]
        elif type_ == "response.created":
            self.active_response_id = ev["response"]["id"]
        elif type_ == "response.done" and self.active_response_id == ev["response"]["id"]:
            self.active_response_id = None
        return False

    def commit(self) -> Event:
        """A commit of the input audio; one the server does not answer is answered once done."""
        commit: Event = {"type": "input_audio_buffer.commit"}
        if not self._server_responds_on_commit():
            commit["event_id"] = self._respond_after = new_id("event")
        return commit

    def commit_refused(self) -> None:
        """The commit did not reach the engine: nothing to answer."""
        self._respond_after = None

    def _server_responds_on_commit(self) -> bool:
        audio = (self.session or {}).get("audio") or {}
        td = (audio.get("input") or {}).get("turn_detection")
        return td is not None and td.get("create_response", True) is not False
