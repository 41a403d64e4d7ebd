import jiwer
import numpy as np
import pytest

from voxgate.audio import resample
from voxgate.components.stt.whisper import drop_repetition, shorten_pauses


@pytest.mark.parametrize(
    "text",
    [
        "What is the capital of France?",
        "Can you recommend a good book to read?",
        "Turn off the lights in the kitchen.",
    ],
)
def test_transcribes_piper_speech(models, speech, text):
    pcm = resample(speech(text), 24000, models.stt.sample_rate)
    transcript = models.stt.transcribe(pcm)
    assert jiwer.wer(text.lower().strip("?."), transcript.lower().strip("?.")) <= 0.2, transcript


def test_silence_transcribes_to_nothing(models):
    assert models.stt.transcribe(b"\0" * 32000) == ""
    assert models.stt.transcribe(b"") == ""


@pytest.mark.parametrize("seed", range(4))
def test_a_noise_transcribes_to_nothing(models, seed):
    """A breath or a hiss: Whisper writes words for it ("I'm out of my head."), with low scores."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 0.05 + 0.05 * seed, int(models.stt.sample_rate * 0.8))
    pcm = (np.clip(noise, -1, 1) * 32767).astype(np.int16).tobytes()
    assert models.stt.transcribe(pcm) == ""


def test_drop_repetition():
    assert drop_repetition("Hello. Hello. Hello.") == "Hello."
    assert drop_repetition("Is it far? Is it far? Is") == "Is it far?"
    assert drop_repetition("Hi there. How are you?") == "Hi there. How are you?"
    looped = "Is their wife on board, is their wife on board, is their wife"
    assert drop_repetition(looped) == "Is their wife on board"
    assert drop_repetition("Yes, yes, I do.") == "Yes, yes, I do."
    assert drop_repetition("Sure, sure thing, go ahead.") == "Sure, sure thing, go ahead."
    restart = "I want to go, I want to go home."  # said again, then on: speech
    assert drop_repetition(restart) == restart
    unpunctuated = "Tell me a joke about computers Tell me a joke about computers Tell me a joke"
    assert drop_repetition(unpunctuated) == "Tell me a joke about computers"
    tail = "I would like to change my seat to 14 C please 14 C please 14 C please 14 C please"
    assert drop_repetition(tail) == "I would like to change my seat to 14 C please"
    twice = "I said go to the shop go to the shop"  # said again once, late: speech
    assert drop_repetition(twice) == twice
    assert drop_repetition("very very very good") == "very very very good"
    assert drop_repetition("I think I think that is it") == "I think I think that is it"


def test_a_prompt_goes_before_the_transcript_as_previous_text(models, speech):
    stt = models.stt
    tokenizer = stt._tokenizer
    start = stt._prompt_tokens("wifi, carry-on")
    assert start[0] == tokenizer.sot_prev and start[-len(stt._prompt) :] == stt._prompt
    assert tokenizer.decode(start[1 : -len(stt._prompt)]).strip() == "wifi, carry-on"
    assert stt._prompt_tokens("") == stt._prompt
    pcm = resample(speech("Turn off the lights in the kitchen."), 24000, stt.sample_rate)
    assert "kitchen" in stt.transcribe(pcm, prompt="Lights, kitchen, living room.").lower()


def test_a_long_pause_inside_an_utterance_is_cut_to_300_ms():
    rng = np.random.default_rng(0)
    speech = rng.uniform(-0.3, 0.3, 16000).astype(np.float32)
    hush = rng.uniform(-0.001, 0.001, 32000).astype(np.float32)  # a quiet room, not zeros
    shortened = shorten_pauses(np.concatenate([hush, speech, hush, speech]))
    assert shortened.size == 4800 + 2 * speech.size + 4800
    assert np.array_equal(shortened[4800:20800], speech)
    assert np.array_equal(shortened[-16000:], speech)
    short = np.concatenate([hush[:4800], speech, hush[:3200], speech])  # 200 ms: kept
    assert np.array_equal(shorten_pauses(short), short)


def test_speech_that_starts_at_once_gets_300_ms_of_quiet_before_it():
    speech = np.random.default_rng(1).uniform(-0.3, 0.3, 16000).astype(np.float32)
    padded = shorten_pauses(speech)
    assert padded.size == 4800 + speech.size
    assert not padded[:4800].any() and np.array_equal(padded[4800:], speech)


def test_what_follows_a_long_pause_is_transcribed(models, speech):
    pause = b"\0\0" * int(models.stt.sample_rate * 1.5)
    first = resample(speech("My confirmation number is"), 24000, models.stt.sample_rate)
    then = resample(speech("A B C one two three."), 24000, models.stt.sample_rate)
    transcript = models.stt.transcribe(first + pause + then).lower()
    assert "confirmation" in transcript and ("abc" in transcript or "a b c" in transcript), (
        transcript
    )
