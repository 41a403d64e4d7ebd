"""False interruptions: a sound over the agent's reply pauses it until it is known what it was.

A cough, a noise or a short "mm-hm" / "okay" while the agent speaks is not a request to stop.
The reply pauses when the user's speech starts (the caller stops playing it at
``input_audio_buffer.speech_started``, as for any barge-in), and then:

- the user has spoken for ``CONFIRM_MS``: an interruption, whatever the words;
- the user's turn ends and its transcript holds a word that is not a backchannel: an
  interruption;
- otherwise (no words, or only "mm-hm", "okay", "yeah"...): a false one, and the reply resumes.

An interruption cancels the reply and truncates it to what was heard before the pause.
"""

from __future__ import annotations

import re

CONFIRM_MS = 1000.0
"""Speech this long over a reply interrupts it, words or not."""

BACKCHANNELS = frozenset(
    {
        *("mm", "mmm", "mhm", "hm", "hmm", "uh", "um", "huh", "ah", "aha", "oh", "wow"),
        *("ok", "okay", "yeah", "yes", "yep", "yup", "right", "sure", "alright"),
        *("cool", "nice", "great", "i", "see", "got", "it", "thank", "thanks", "you"),
    }
)
"""Words a listener says to show they follow; a few of them do not ask the speaker to stop."""
_MAX_WORDS = 4
_NOISE = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*")  # Whisper's "[coughs]", "(laughs)"
_WORD = re.compile(r"[a-z]+")


_HUM = re.compile(r"[mhn]+|u+h+|a+h+|o+h+|u+m+")  # "mmm", "hmm", "N-M-M-M" as Whisper writes it


def is_backchannel(transcript: str) -> bool:
    """Whether a transcript is no request to stop: empty, noise, a hum or a few listener's words."""
    words = _WORD.findall(_NOISE.sub(" ", transcript.lower()).replace("'", ""))
    said = [word for word in words if not _HUM.fullmatch(word)]
    return len(said) <= _MAX_WORDS and all(word in BACKCHANNELS for word in said)
