from voxgate.components.tts.phrases import PhraseSplitter


def test_synthesizes_audible_speech(models):
    pcm = b"".join(models.tts.synthesize("Hello world."))
    seconds = len(pcm) / 2 / models.tts.sample_rate
    assert 0.3 < seconds < 3
    assert (
        max(
            abs(int.from_bytes(pcm[i : i + 2], "little", signed=True))
            for i in range(0, len(pcm), 2)
        )
        > 1000
    )


def test_phrases_cut_first_clause_then_sentences():
    splitter = PhraseSplitter()
    out = []
    for piece in ["The capital ", "of France is Paris, ", "a city of lights. It ", "is big", "."]:
        out += splitter.feed(piece)
    out += splitter.flush()
    assert out == ["The capital of France is Paris,", "a city of lights.", "It is big."]


def test_phrases_skip_unspeakable_and_cut_run_ons():
    splitter = PhraseSplitter()
    assert splitter.feed("... ") == []
    words = " ".join(["word"] * 40) + " "
    out = splitter.feed(words)
    assert [len(phrase.split()) for phrase in out] == [4, 30]
    assert splitter.flush() == [" ".join(["word"] * 6)]


def test_first_phrase_is_short_even_without_punctuation():
    splitter = PhraseSplitter()
    out = splitter.feed(
        "The moon is approximately three hundred eighty four thousand kilometers away "
    )
    assert out == ["The moon is approximately"]
    assert splitter.feed("from the earth. ") == [
        "three hundred eighty four thousand kilometers away from the earth."
    ]


def test_a_number_in_the_first_phrase_counts_as_the_words_it_is_spoken_as():
    """Piper says "384,400" as seven words: a first phrase holding it took ~400 ms to voice."""
    splitter = PhraseSplitter()
    assert splitter.feed("384,400 kilometers is the distance ") == ["384,400"]
    assert PhraseSplitter().feed("It is 238,855 miles, or so. ")[0] == "It is"
    assert PhraseSplitter().feed("Gate 14 is open. ") == ["Gate 14 is open."]
    later = PhraseSplitter()
    later.feed("Yes. ")
    assert later.feed("It is 384,400 kilometers away. ") == ["It is 384,400 kilometers away."]


def test_first_phrase_does_not_end_on_a_function_word():
    splitter = PhraseSplitter()
    out = []
    for token in ["The", " tallest", " mountain", " in", " the", " world", " is", " Mount"]:
        out += splitter.feed(token)
    out += splitter.feed(" Everest. ")
    assert out == ["The tallest mountain", "in the world is Mount Everest."]
    assert PhraseSplitter().feed("It is in the\nworld ") == ["It is"]


def test_text_that_comes_whole_starts_with_as_short_a_phrase_as_streamed_text():
    whole = "Sorry, a confirmation number has six letters or digits, like ABC123. What is yours?"
    splitter = PhraseSplitter()
    out = splitter.feed(whole) + splitter.flush()
    assert out[0] == "Sorry, a confirmation number"
    assert " ".join(out) == whole
    weather = PhraseSplitter().feed("Tokyo: partly cloudy, 27 degrees Celsius, demo weather. ")
    assert weather[0] == "Tokyo: partly cloudy,"


def test_speed_changes_how_long_speech_takes(models):
    def seconds(speed: float) -> float:
        pcm = b"".join(models.tts.synthesize("Your seat is fourteen C.", speed=speed))
        return len(pcm) / 2 / models.tts.sample_rate

    normal, slow, fast = seconds(1.0), seconds(0.5), seconds(1.5)
    assert slow > 1.6 * normal and fast < 0.8 * normal
