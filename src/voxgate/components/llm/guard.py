"""Only words meant for the user are spoken: scaffolding is caught before it is said.

A small model imitates what its prompt holds, and a prompt with tools holds tool names, call
syntax, JSON and instructions. ``Guard`` reads the reply as it streams, word by word, and stops
it at the first piece of scaffolding; what was said before stays, and a reply that had nothing
else to say gets its fallback instead. Words that may start a scaffolding phrase ("I" of "I
called") are held back until the next word tells, and past the first sentence text goes on a
clause at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_MARKERS = re.compile(
    r"[{}\[\]<>|\\_`#*]"  # JSON, templates, markup, snake_case names
    r"|\w\("  # call syntax
    r"|\b(?:function|tool|json|api|arguments?|call_id|im_start|im_end)\b"
    r"|\b(?:system|assistant|user)\s*:"
    r"|\b(?:i|we) (?:called|will call|am calling|call the)\b"
    r"|\bresult of\b|\btell me this result\b|\bin one short sentence\b"
    r"|\bthe customer (?:needs|says)\b|\bwhat you found out\b|\bextract the arguments\b",
    re.IGNORECASE,
)
_PHRASE_STARTS: tuple[tuple[str, ...], ...] = (
    ("i", "called"),
    ("i", "will", "call"),
    ("i", "am", "calling"),
    ("i", "call", "the"),
    ("we", "called"),
    ("we", "will", "call"),
    ("result", "of"),
    ("tell", "me", "this", "result"),
    ("in", "one", "short", "sentence"),
    ("the", "customer", "needs"),
    ("the", "customer", "says"),
    ("what", "you", "found", "out"),
    ("extract", "the", "arguments"),
    ("system", ":"),
    ("assistant", ":"),
    ("user", ":"),
)
_WORD = re.compile(r"[a-z]+|:")
_IDENTIFIER = re.compile(r"[a-z][A-Z]|\w\d|[_-]")


def scaffolding(text: str, names: Iterable[str] = ()) -> str | None:
    """The first piece of scaffolding in ``text``, or None.

    Tool names among ``names`` count when they read as identifiers ("getWeather", "lookup2";
    snake_case is caught anyway); a tool named like a word ("weather") may be said as one.
    """
    found = _MARKERS.search(text)
    for name in names:
        if not _IDENTIFIER.search(name):
            continue
        spoken = re.search(rf"\b{re.escape(name)}\b", text)
        if spoken and (found is None or spoken.start() < found.start()):
            found = spoken
    return found.group(0) if found else None


class Guard:
    """Streams a reply's text on, stopping at scaffolding.

    ``feed(piece)`` returns the text that may be said now; once ``stopped``, nothing more.
    ``finish()`` returns what was held back, or the fallback when nothing was said. With
    ``max_sentences`` the reply also stops at the end of that many sentences.
    """

    def __init__(
        self, names: Iterable[str] = (), *, fallback: str = "", max_sentences: int | None = None
    ) -> None:
        self._names = [n for n in names if n]
        self._fallback = fallback
        self._max_sentences = max_sentences
        self._said = ""
        self._held = ""
        self.stopped = False
        self.caught: str | None = None
        """The scaffolding that stopped the reply, if any."""

    @property
    def said(self) -> str:
        """What was passed on so far."""
        return self._said

    def feed(self, piece: str) -> str:
        """The part of the text so far that is safe to say now."""
        if self.stopped:
            return ""
        self._held += piece
        # a word is whole once a space follows it, or punctuation ends it
        whole = self._held.endswith((" ", ".", "!", "?", ",", ";", ":"))
        cut = len(self._held) if whole else self._held.rfind(" ")
        if cut <= 0:
            return ""  # a word still being written
        ready, rest = self._held[:cut], self._held[cut:]
        ready, kept = _hold_phrase_start(ready)
        ready, clause = self._whole_clauses(ready)
        return self._release(ready, clause + kept + rest)

    def finish(self) -> str:
        """The end of the reply: what was held, or the fallback if nothing was said."""
        tail = "" if self.stopped else self._release(self._held, "")
        if not (self._said + tail).strip():
            tail = self._fallback if not scaffolding(self._fallback, self._names) else ""
            self._said += tail
        return tail

    def _release(self, ready: str, held: str) -> str:
        found = scaffolding(self._said + ready, self._names)
        if found is None:
            if (end := self._sentences_end(self._said + ready)) is not None:
                ready, held, self.stopped = ready[: max(end - len(self._said), 0)], "", True
            self._said += ready
            self._held = held
            return ready
        self.stopped, self.caught = True, found
        index = (self._said + ready).lower().find(found.lower())
        before = (self._said + ready)[len(self._said) : max(index, len(self._said))]
        before = _whole_part(before, self._said) if index >= len(self._said) else ""
        self._said += before
        self._held = ""
        return before

    def _whole_clauses(self, ready: str) -> tuple[str, str]:
        """``ready`` split where, past the first sentence, its last whole clause ends.

        The first sentence goes word by word (its first words are voiced at once); later text
        goes a clause at a time, ahead of playback anyway, so a clause a list or JSON follows
        ("You can try: *") is stopped whole. A colon ends no clause.
        """
        text = self._said + ready
        first = _SENTENCE_END.search(text)
        if first is None:
            return ready, ""
        ends = [m.end() for m in _CLAUSE_END.finditer(text, first.start())]
        cut = max(ends[-1] - len(self._said), 0)
        return ready[:cut], ready[cut:]

    def _sentences_end(self, text: str) -> int | None:
        """Where the last allowed sentence of ``text`` ends, if it has ended."""
        if self._max_sentences is None:
            return None
        ends = [m.end() for m in _SENTENCE_END.finditer(text)]
        return ends[self._max_sentences - 1] if len(ends) >= self._max_sentences else None


_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_CLAUSE_END = re.compile(r"[.!?,;](?=\s|$)")


def _hold_phrase_start(text: str) -> tuple[str, str]:
    """Split off trailing words that may begin a scaffolding phrase."""
    words = list(_WORD.finditer(text.lower()))
    for size in range(min(4, len(words)), 0, -1):
        tail = tuple(m.group(0) for m in words[-size:])
        if any(p[:size] == tail and len(p) > size for p in _PHRASE_STARTS):
            start = words[-size].start()
            return text[:start], text[start:]
    return text, ""


def _whole_part(text: str, said: str) -> str:
    """What of ``text`` a stopped reply still says, after ``said``: up to its last sentence end.

    With no sentence end in it, a first sentence is said up to a clause end (not a colon: "You
    can try:" announces what was stopped), and a reply that already ended a sentence says no
    more.
    """
    if ends := [m.end() for m in _SENTENCE_END.finditer(text)]:
        return text[: ends[-1]]
    if said.rstrip().endswith((".", "!", "?")):
        return ""
    ends = [m.end() for m in re.finditer(r"[,;](?=\s|$)", text)]
    return text[: ends[-1]] if ends else ""
