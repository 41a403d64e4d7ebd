"""The summary a session leaves when it ends: one out-of-band text response of its own model.

The request (GA ``response.create`` with ``conversation: "none"``) carries the conversation
as text in its own ``input``, so the engine's conversation is left as it was and any engine
that speaks the protocol can answer (the local one with the session's language model).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from voxgate.engines import Engine
from voxgate.protocol import Event, new_id
from voxgate.session.seams import SessionRecorder

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "You write short summaries of conversations between a user and a voice agent. Answer with "
    "one or two plain sentences: what the user wanted and what they were told."
)
ASK = "Summarize this conversation in one or two sentences.\n\n{transcript}\n\nSummary:"
TIMEOUT_S = 20.0
"""How long a session's end waits for its summary (the clients have already left)."""
METADATA = {"voxgate": "summary"}


def summary_request(transcript: str) -> Event:
    """The ``response.create`` that asks the engine to summarize ``transcript``."""
    ask = {"type": "input_text", "text": ASK.format(transcript=transcript)}
    return {
        "type": "response.create",
        "event_id": new_id("event"),
        "response": {
            "conversation": "none",
            "output_modalities": ["text"],
            "instructions": INSTRUCTIONS,
            "input": [{"type": "message", "role": "user", "content": [ask]}],
            "tools": [],
            "tool_choice": "none",
            "max_output_tokens": 80,
            "metadata": METADATA,
        },
    }


class SummaryReply:
    """Follows the engine's events for the answer to one ``summary_request``."""

    def __init__(self, request: Event) -> None:
        self._event_id = request["event_id"]
        self._response_id: str | None = None
        self._answer: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

    def observe(self, ev: Event) -> None:
        """One engine event while the summary is made."""
        type_ = ev["type"]
        if type_ == "response.created" and self._response_id is None:
            response = ev["response"]
            if response.get("metadata") in (None, METADATA):  # an engine may not echo it
                self._response_id = response["id"]
        elif type_ == "response.done" and ev["response"].get("id") == self._response_id:
            response = ev["response"]
            self._settle(_text(response) if response.get("status") == "completed" else None)
        elif type_ == "error" and ev["error"].get("event_id") == self._event_id:
            self._settle(None)

    def ended(self) -> None:
        """The engine's events ended: no summary."""
        self._settle(None)

    async def text(self, timeout: float | None = None) -> str | None:
        """The summary's text, or None (refused, failed, or not in ``TIMEOUT_S``)."""
        try:
            async with asyncio.timeout(TIMEOUT_S if timeout is None else timeout):
                return await self._answer
        except TimeoutError:
            return None

    def _settle(self, text: str | None) -> None:
        if not self._answer.done():
            self._answer.set_result(text.strip() if text and text.strip() else None)


def _text(response: dict[str, Any]) -> str:
    parts = [
        str(part.get("text") or part.get("transcript") or "")
        for item in response.get("output") or []
        if item.get("type") == "message"
        for part in item.get("content") or []
    ]
    return " ".join(p for p in parts if p)


class ClosingSummary:
    """The summary a closing session asks its engine for; the recorder keeps it."""

    def __init__(self, session_id: str) -> None:
        self._session_id = session_id
        self.reply: SummaryReply | None = None
        """The answer awaited while it is made: the session's engine events go to it."""

    async def make(self, engine: Engine, recorder: SessionRecorder, *, cancel: bool) -> None:
        """Ask ``engine`` (cancelling its response first if ``cancel``) and give it ``recorder``."""
        try:
            source = recorder.summary_source()
            if not source:
                return
            request = summary_request(source)
            self.reply = reply = SummaryReply(request)
            if cancel:
                await engine.send({"type": "response.cancel"})
            await engine.send(request)
            text = await reply.text()
        except Exception:
            log.exception("session %s: the summary failed", self._session_id)
            return
        finally:
            self.reply = None
        if text:
            recorder.summarized(text)
