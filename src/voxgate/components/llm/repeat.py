"""A request to hear the last reply again ("Could you repeat that more slowly?").

Callers ask it all the time on a phone line. A 135M model asked to repeat makes something up
("Yes, I can repeat that. It's a 125-dollar per person ticket for the entire plane." after
an answer about pets in the cabin, ``bench conversation``), so the local model's reply to it
is the last reply, word for word; ``asks_slower`` tells the voice to take its time.

Only a request to repeat what was said: "repeat my booking" asks for something else.
"""

from __future__ import annotations

import re

from voxgate.components.llm import ChatMessage

_POLITE = r"(?:\s+(?:please|again|for me|slowly|more slowly|slower|a bit slower|back))*"
_REPEAT = re.compile(
    r"\brepeat(?:\s+(?:that|it|this|yourself|what you (?:just )?said|the last (?:part|bit|"
    r"answer|sentence|thing|one))\b|" + _POLITE + r"\s*$)"
    r"|\b(?:say|read)\s+(?:that|it|this)\s+(?:again|once more|one more time)\b"
    r"|\b(?:i\s+)?(?:didn'?t|did not|couldn'?t|could not)\s+(?:quite\s+)?"
    r"(?:catch|hear|get|understand)\s+(?:that|it|you|what you said)\b"
    r"|\bwhat did you (?:just )?say\b"
    r"|^(?:sorry\s*)?(?:pardon(?: me)?|come again|what|one more time|once more|again)"
    + _POLITE
    + r"\s*$",
)
_SLOWER = re.compile(r"\b(?:slow(?:ly|er)?|not so fast|too fast)\b")


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[^\w' ]+", " ", text.lower()).split())


def asks_to_repeat(request: str) -> bool:
    """Whether ``request`` asks to hear the last reply again."""
    return _REPEAT.search(_plain(request)) is not None


def asks_slower(request: str) -> bool:
    """Whether ``request`` asks for speech slower than before."""
    return _SLOWER.search(_plain(request)) is not None


def last_reply(messages: list[ChatMessage]) -> str | None:
    """What the assistant last said in words, before the latest user message."""
    seen_user = False
    for message in reversed(messages):
        if message["role"] == "user":
            if seen_user:
                return None  # that user turn got no reply in words
            seen_user = True
            continue
        if seen_user and message["role"] == "assistant":
            text = (message.get("content") or "").strip()
            if text:
                return text
    return None
