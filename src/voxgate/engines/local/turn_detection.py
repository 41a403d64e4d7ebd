"""Turn detection: speech probabilities into the start and end of user turns, and when to end.

``ServerVAD`` ends a turn after a fixed silence. ``semantic_vad`` runs the same state machine
with a longer silence window (the eagerness's longest wait) and ends the turn early when the
end-of-turn model hears a finished thought at the first silent frame (``SemanticPolicy``).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

_HYSTERESIS = 0.15  # speech must fall this far below the threshold to count as silence
_MIN_SPEECH_FRAMES = 2  # a lone loud frame (a click) does not start a turn


class TurnEvent(enum.Enum):
    """What one frame changed."""

    SPEECH_STARTED = "speech_started"
    PAUSED = "paused"  # silence began inside speech: a turn may be ending
    RESUMED = "resumed"  # speech came back before the silence was long enough
    SPEECH_STOPPED = "speech_stopped"
    QUIET = "quiet"  # the level fell inside speech: the words may have ended (``level``)
    SOUND = "sound"  # sound again after QUIET, before the VAD heard a pause


@dataclass
class ServerVAD:
    """Settings as in the spec's ``turn_detection`` of type ``server_vad``."""

    threshold: float = 0.5
    silence_duration_ms: int = 300
    prefix_padding_ms: int = 300

    def __post_init__(self) -> None:
        self.speaking = False
        self.speech_start_ms = 0.0
        self.silence_start_ms: float | None = None
        self._loud_frames = 0

    def process(
        self, probability: float, frame_start_ms: float, frame_end_ms: float
    ) -> TurnEvent | None:
        """Feed one frame's speech probability; returns what changed, if anything."""
        if not self.speaking:
            if probability < self.threshold:
                self._loud_frames = 0
                return None
            self._loud_frames += 1
            if self._loud_frames == 1:
                self.speech_start_ms = frame_start_ms
            if self._loud_frames < _MIN_SPEECH_FRAMES:
                return None
            self.speaking, self.silence_start_ms = True, None
            return TurnEvent.SPEECH_STARTED
        if probability >= max(self.threshold - _HYSTERESIS, 0.01):
            if self.silence_start_ms is not None:
                self.silence_start_ms = None
                return TurnEvent.RESUMED
            return None
        if self.silence_start_ms is None:
            self.silence_start_ms = frame_start_ms
            if self.silence_duration_ms > 0:
                return TurnEvent.PAUSED
        if frame_end_ms - self.silence_start_ms >= self.silence_duration_ms:
            self.speaking, self._loud_frames = False, 0
            return TurnEvent.SPEECH_STOPPED
        return None

    def reset(self) -> None:
        """Back to waiting for speech."""
        self.__post_init__()


@dataclass(frozen=True)
class SemanticPolicy:
    """When ``semantic_vad`` ends a turn: soon if finished, else after ``max_wait_ms``.

    OpenAI documents eagerness as how long the server waits for an unfinished thought (8, 4
    and 2 s for low, medium and high; ``auto`` is medium). A small model misjudges a finished
    question now and then, and the caller then waits the whole window, so ours are shorter;
    they still outlast a thinking pause. Eagerness also moves how sure the model must be.
    """

    threshold: float
    """The end-of-turn probability from which a pause ends the turn early."""
    min_wait_ms: int
    """Silence that ends a turn the model judged finished: a dip between words is shorter.

    Silero hears 100-200 ms of silence between some words ("What | food do you serve", "Can
    you repeat | that"), and the model often calls the words before it finished: at 100 ms
    (medium, until 2026-12) three or four of the ten turns of ``bench conversation`` ended
    there and went on as a second turn. It costs a spoken reply little: the speculative
    reply started at the pause is ready ~200 ms into the silence.
    """
    max_wait_ms: int
    """Silence that ends the turn whatever the model says."""
    sentence_wait_ms: int
    """Silence that ends a turn whose transcript ends a sentence, however unsure the model is.

    Smart Turn doubts some finished questions in a voice unlike its training ("What's the
    weather like in Tokyo today?" in espeak's: under 0.5 at every judgement, so the caller
    waited the whole 2 s); Whisper's own full stop or question mark on words that do not
    dangle is a second opinion. It outlasts a thinking pause as the VAD hears it: the bench's
    0.7 s pause came to 1.0-1.2 s of silence in four espeak voices (Silero hears a word fade
    early and the next begin late), and at 1 s "I would like to change my seat to | fourteen C"
    was cut where Whisper wrote "... my C2." for its first half.
    """
    judge_at_ms: tuple[int, ...] = (0, 150, 300, 800)
    """When the model is asked, by silence so far: its verdict firms up as the silence lasts.

    Of ten finished questions in espeak's voice, 5 scored 0.5 or more at the pause and all 10
    at 150 ms, where five unfinished ones all stayed under 0.3.
    """

    @classmethod
    def of(cls, eagerness: str) -> SemanticPolicy:
        """The policy of the spec's ``eagerness``."""
        return _POLICIES.get(eagerness, _POLICIES["medium"])

    def finished(self, probability: float) -> bool:
        """Whether a pause with this end-of-turn probability ends the turn now."""
        return probability >= self.threshold

    def sentence_ended(self, transcript: str | None, silent_ms: float) -> bool:
        """Whether ``transcript`` ends a sentence and the silence has lasted long enough.

        Stricter than ``sounds_unfinished``: a question mark does not excuse a last word that
        may dangle ("What is the weather like in?" is Whisper's punctuation on half a question).
        """
        if silent_ms < self.sentence_wait_ms or not transcript:
            return False
        return transcript.rstrip().endswith((".", "?", "!")) and not sounds_unfinished(
            transcript, asked_excuses=False
        )

    def finished_ends(self, transcript: str | None, silent_ms: float, *, quiet: bool) -> bool:
        """Whether a turn the model judged finished, with this transcript, ends now.

        After ``min_wait_ms`` once its words are known, if the level is ``quiet`` too, else
        ``LOUD_WAIT_MS`` later; one that ends on a word only a question may end with waits as
        a doubted sentence does: "Where are you from?" is asked so, and so is Whisper's
        punctuation on half a question ("What is the weather like in?", judged finished at a
        thinking pause).
        """
        if transcript is None:
            return False
        if sounds_unfinished(transcript, asked_excuses=False):
            return silent_ms >= self.sentence_wait_ms
        return silent_ms >= self.min_wait_ms + (0 if quiet else LOUD_WAIT_MS)

    def judge_again(self, judgements: int, silent_ms: float) -> bool:
        """Whether a turn judged unfinished ``judgements`` times is asked about once more."""
        return judgements < len(self.judge_at_ms) and silent_ms >= self.judge_at_ms[judgements]


LOUD_WAIT_MS = 100
"""More silence a finished turn needs when the VAD hears silence but the level is not quiet.

Silero calls some soft sounds silence: the "f" of "What | food", a comma's breath ("Thank
you, | that's all"). Over 22 sentences in three espeak voices, eight alignments each, the
VAD's silence reached 200 ms inside a sentence 18 times, 16 of them over sound the level
still heard; at the end of every sentence (510 times) the level was quiet by then. At 300 ms
it reached none inside a sentence. A noisy microphone is never quiet: its turns end 100 ms
later than a quiet one's.
"""

_POLICIES = {  # eagerness: threshold, min_wait_ms, max_wait_ms, sentence_wait_ms
    "low": SemanticPolicy(0.7, 250, 3000, 1600),
    "medium": SemanticPolicy(0.5, 200, 2000, 1300),
    "high": SemanticPolicy(0.3, 100, 1000, 600),
}
_POLICIES["auto"] = _POLICIES["medium"]


_NEVER_LAST = frozenset(
    {
        *("a", "an", "the", "my", "your", "our", "their", "its"),
        *("and", "or", "but", "because", "if", "than", "i", "um", "uh"),
    }
)
_LAST_UNLESS_ASKED = frozenset(  # "Where are you from?", "What is it?"
    {
        *("to", "of", "in", "on", "at", "for", "with", "from", "by", "about", "into", "like"),
        *("is", "am", "was", "need", "want"),
    }
)
_LAST_WORD = re.compile(r"([a-z']+)([^a-z']*)$")


def sounds_unfinished(transcript: str, *, asked_excuses: bool = True) -> bool:
    """Whether a transcript stops on a word a sentence cannot end with ("... my seat to").

    A question may end on a preposition ("Where are you from?"), never on "my" or "the";
    without ``asked_excuses`` a question mark excuses nothing.
    """
    last = _LAST_WORD.search(transcript.lower())
    if last is None:
        return False
    word, asked = last.group(1), asked_excuses and "?" in last.group(2)
    return word in _NEVER_LAST or (word in _LAST_UNLESS_ASKED and not asked)
