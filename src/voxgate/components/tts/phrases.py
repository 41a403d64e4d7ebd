"""Cut streamed reply text into phrases a TTS can voice while the rest is still generated."""

from __future__ import annotations

import itertools
import re

_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s")
_CLAUSE_END = re.compile(r"[,;:—]\s")
_SENTENCE_FINAL = re.compile(r"[.!?…]+[\"')\]]*$")
_WORD = re.compile(r"\S+")
_FIRST_CLAUSE_MIN_WORDS = 3
_FIRST_MAX_WORDS = 4  # the first audio waits for the whole first phrase: keep it short
_FIRST_MAX_PUNCTUATED = 6  # a first clause or sentence longer than this is cut by words
_MAX_WORDS = 30
_MIN_WORDS = 2
# a phrase cut by its word limit does not end on one of these: "The tallest mountain | in the…"
# sounds natural, "The tallest mountain in | the…" does not
_FUNCTION_WORDS_TEXT = """
    a an the of in on at to for from with by into onto about as than and or but nor so
    is are was were be been am do does did has have had will would can could should may
    might must my your his her its our their this that these those any some no not very
    i you he she it we they i'm you're it's we're they're there
"""
_FUNCTION_WORDS = frozenset(_FUNCTION_WORDS_TEXT.split())


class PhraseSplitter:
    """Feed text pieces, get whole phrases back.

    Phrases end at sentence boundaries; the first phrase of a reply may also end at a clause
    boundary or after a few words, so the first audio is ready sooner, also when the text
    came whole (a tool's sentence: its first sentence was voiced whole, ~280 ms). A phrase cut
    by a word limit backs off trailing function words. A run-on is cut at a word boundary.
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
        punctuated = []
        if match := _SENTENCE_END.search(self._pending):
            punctuated.append(match.end())
        if self._first:
            clauses = (
                m.end()
                for m in _CLAUSE_END.finditer(self._pending)
                if len(self._pending[: m.end()].split()) >= _FIRST_CLAUSE_MIN_WORDS
            )
            if (clause := next(clauses, None)) is not None:
                punctuated.append(clause)
        end = min(punctuated, default=None)
        # text that came whole (a tool's sentence) is cut as soon as streamed text would be
        if end is None or (
            self._first and _spoken_words(self._pending[:end].split()) > _FIRST_MAX_PUNCTUATED
        ):
            limit = _FIRST_MAX_WORDS if self._first else _MAX_WORDS
            # whole words only: the last one may still be growing
            words = [w for w in _WORD.finditer(self._pending) if w.end() < len(self._pending)]
            # a first phrase counts a number as it is spoken: "384,400 kilometers" is eight words
            weights = [_spoken_words([w.group()]) if self._first else 1 for w in words]
            if sum(weights) < limit:
                return None
            keep = max(1, sum(1 for total in itertools.accumulate(weights) if total <= limit))
            while keep > _MIN_WORDS and _bare(words[keep - 1].group()) in _FUNCTION_WORDS:
                keep -= 1
            end = words[keep - 1].end()
        phrase, self._pending = self._pending[:end].strip(), self._pending[end:]
        if not _speakable(phrase):
            return None if not self._pending else self._cut()
        self._first = False
        return phrase


def ends_sentence(phrase: str) -> bool:
    """Whether ``phrase`` ends a sentence (a pause after it sounds natural)."""
    return _SENTENCE_FINAL.search(phrase.rstrip()) is not None


def _bare(word: str) -> str:
    return word.strip("\"'()[],;:").lower().replace("\u2019", "'")  # a typographic apostrophe


def _spoken_words(words: list[str]) -> int:
    """How many words ``words`` are when spoken: a number is about one a digit."""
    return sum(max(1, sum(ch.isdigit() for ch in word)) for word in words)


def _speakable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)
