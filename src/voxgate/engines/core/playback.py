"""What the caller has heard of one spoken reply, for pacing and for truncation.

The client plays audio in real time from the moment the first of it reaches them (and not
before the reply may be heard at all: a speculative reply is held until the user's turn ends).
Text is spoken phrase by phrase; when a reply is cut short, the words heard are those of the
phrases played whole and a share of the one playing, by time. When the user makes a sound over
the reply the caller stops playing it (``pause``: heard time stops); if the sound was no
interruption, playback goes on from there (``resume``) with the unheard audio sent again.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass
class _Phrase:
    text: str
    start_ms: float
    end_ms: float
    complete: bool = False  # all of its audio has gone out


class Playback:
    """One reply's audio as the caller hears it: sent, played, and the words behind it."""

    def __init__(self, *, released: bool = True) -> None:
        self.sent_ms = 0.0
        """Audio sent so far."""
        self.first_audio_at: float | None = None
        """When the first audio went out (``time.monotonic()``)."""
        self.released_at: float | None = time.monotonic() if released else None
        """Since when the reply may be heard (None: held back)."""
        self._phrases: list[_Phrase] = []
        self._paused_ms: float | None = None  # heard when playback paused
        self._base_ms = 0.0  # heard when playback last resumed
        self._clock_from = 0.0  # when it resumed (time.monotonic())

    @property
    def text(self) -> str:
        """Every phrase begun so far, as said."""
        return "".join(p.text for p in self._phrases)

    def release(self) -> None:
        """The reply may be heard from now on."""
        if self.released_at is None:
            self.released_at = time.monotonic()

    def begin_phrase(self, text: str) -> str:
        """A phrase starts at the audio sent so far; returns its text as it joins the reply."""
        joined = text if not self._phrases else " " + text
        self._phrases.append(_Phrase(joined, self.sent_ms, self.sent_ms))
        return joined

    def audio(self, ms: float) -> None:
        """``ms`` more audio of the current phrase went out."""
        if self.first_audio_at is None:
            self.first_audio_at = time.monotonic()
        self.sent_ms += ms
        if self._phrases:
            self._phrases[-1].end_ms = self.sent_ms

    def end_phrase(self) -> None:
        """All of the current phrase's audio has gone out (or it has none)."""
        if self._phrases:
            self._phrases[-1].complete = True

    def heard_ms(self) -> float:
        """Audio the caller has played so far."""
        if self._paused_ms is not None:
            return self._paused_ms
        if self.first_audio_at is None or self.released_at is None:
            return self._base_ms
        start = max(self.first_audio_at, self.released_at, self._clock_from)
        return min(self.sent_ms, self._base_ms + (time.monotonic() - start) * 1000)

    @property
    def paused(self) -> bool:
        """Whether the caller has stopped playing the reply for now."""
        return self._paused_ms is not None

    def pause(self) -> None:
        """The caller stopped playback and dropped the audio queued: heard time stops."""
        if self._paused_ms is None:
            self._paused_ms = self.heard_ms()

    def resume(self) -> float:
        """Playback goes on from where it paused (returned, ms): what follows is sent again."""
        if self._paused_ms is None:
            return self.heard_ms()
        self._base_ms, self._paused_ms = self._paused_ms, None
        self._clock_from = time.monotonic()
        return self._base_ms

    @property
    def playing(self) -> bool:
        """Whether audio sent is still to be heard."""
        return self.heard_ms() < self.sent_ms

    def heard_text(self, heard_ms: float | None = None) -> str:
        """The words of the reply heard by ``heard_ms`` (default: now)."""
        heard = self.heard_ms() if heard_ms is None else heard_ms
        text = ""
        for phrase in self._phrases:
            if phrase.complete and phrase.end_ms <= heard:
                text += phrase.text
            elif phrase.start_ms < heard and phrase.end_ms > phrase.start_ms:
                words = phrase.text.split()
                share = min(1.0, (heard - phrase.start_ms) / (phrase.end_ms - phrase.start_ms))
                said = words[: int(len(words) * share)]
                if said:
                    text += phrase.text[: len(phrase.text) - len(phrase.text.lstrip())]
                    text += " ".join(said)
        return text.strip()

    async def pace(self, lead_ms: float) -> None:
        """Wait until no more than ``lead_ms`` of sent audio is still unheard."""
        # polls: playback time passes by itself (and not at all while the reply is held)
        while (ahead := self.sent_ms - self.heard_ms()) > lead_ms:  # noqa: ASYNC110
            await asyncio.sleep(min(ahead - lead_ms, 200) / 1000)
