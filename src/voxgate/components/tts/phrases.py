"""Cut streamed reply text into phrases a TTS can voice while the rest is still generated."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s")
_CLAUSE_END = re.compile(r"[,;:—]\s")
_FIRST_CLAUSE_MIN_WORDS = 3
_FIRST_MAX_WORDS = 8  # the first audio waits for the whole first phrase: keep it short
_MAX_WORDS = 30


class PhraseSplitter:
    """Feed text pieces, get whole phrases back.

    Phrases end at sentence boundaries; the first phrase of a reply may also end at a clause
    boundary or after a few words, so the first audio is ready sooner. A run-on is cut at a
    word boundary.
    """

    def __init__(self) -> None:
        self._pending = ""
        self._first = True

    def feed(self, text: str) -> list[str]:
        """Phrases completed by ``text``."""
        self._pending += text
        phrases: list[str] = []
        while phrase := self._cut():
            phrases.append(phrase)
        return phrases

    def flush(self) -> list[str]:
        """Whatever is left once the reply is complete."""
        rest, self._pending = self._pending.strip(), ""
        return [rest] if _speakable(rest) else []

    def _cut(self) -> str | None:
        end = None
        if (match := _SENTENCE_END.search(self._pending)) or (
            self._first
            and (match := _CLAUSE_END.search(self._pending))
            and len(self._pending[: match.end()].split()) >= _FIRST_CLAUSE_MIN_WORDS
        ):
            end = match.end()
        if end is None:
            limit = _FIRST_MAX_WORDS if self._first else _MAX_WORDS
            words = self._pending.split(" ")
            if len(words) <= limit:
                return None
            end = len(" ".join(words[:limit])) + 1
        phrase, self._pending = self._pending[:end].strip(), self._pending[end:]
        if not _speakable(phrase):
            return None if not self._pending else self._cut()
        self._first = False
        return phrase


def _speakable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)
