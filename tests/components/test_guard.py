"""Only words meant for the user: scaffolding is caught as a reply streams."""

import pytest

from voxgate.components.llm.guard import Guard, scaffolding


@pytest.mark.parametrize(
    "text",
    [
        "I called faq_lookup_tool({}).",
        "Result of get_weather: sunny.",
        "Paris is sunny. Tell me this result in one short sentence.",
        '{"city": "Paris"}',
        "transfer to triage agent(",
        "assistant: hello",
        "The customer needs this: weather",
        "<|im_start|>assistant",
    ],
)
def test_scaffolding_is_found(text):
    assert scaffolding(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "You may check two bags of up to 23 kg each.",
        "Paris: sunny, 23 degrees Celsius, demo weather.",
        "Sure, I can help with that. What is your confirmation number?",
        "I call it a day.",
    ],
)
def test_words_for_the_user_pass(text):
    assert scaffolding(text) is None


def test_a_tool_name_is_scaffolding_when_it_reads_as_an_identifier():
    assert scaffolding("Let me use lookUp now.", ["lookUp"]) == "lookUp"
    assert scaffolding("Let me look it up.", ["lookUp"]) is None
    assert scaffolding("Ask faq-bot.", ["faq-bot"]) == "faq-bot"
    assert scaffolding("The weather is fine.", ["weather"]) is None  # a word, said as one


def stream(guard, pieces):
    said = [guard.feed(p) for p in pieces]
    return "".join(said) + guard.finish()


def test_a_clean_reply_streams_through_word_by_word():
    guard = Guard(["get_weather"])
    assert guard.feed("Hello") == ""  # a word still being written
    assert guard.feed(" the") == "Hello"
    assert guard.feed("re,") == " there,"  # punctuation ends a word
    assert guard.feed(" friend") == ""
    assert guard.finish() == " friend"
    assert not guard.stopped


def test_a_reply_stops_at_scaffolding_and_keeps_what_came_before():
    guard = Guard(["faq_lookup_tool"], fallback="Sorry?")
    said = stream(guard, ["Sure!", " I", " called", " faq", "_lookup", "_tool", "({}).", " Bye."])
    assert said.rstrip() == "Sure!"
    assert guard.stopped and guard.caught.lower() == "i called"


def test_a_reply_of_scaffolding_only_gets_the_fallback():
    guard = Guard(["faq_lookup_tool"], fallback="Sorry, could you say that again?")
    said = stream(guard, ["I", " called", " faq_lookup_tool", "({})."])
    assert said == "Sorry, could you say that again?"


def test_a_word_that_may_start_scaffolding_waits_for_the_next():
    guard = Guard()
    assert guard.feed("I ") == ""  # "I" may be "I called"
    assert guard.feed("can ") == "I can "
    assert guard.finish() == ""


def test_a_reply_stops_at_the_end_of_its_last_allowed_sentence():
    guard = Guard(max_sentences=2)
    pieces = ["Yes, it costs 2.5 dollars.", " Meals", " are free!", " I", " also", " think"]
    said = stream(guard, pieces)
    assert said == "Yes, it costs 2.5 dollars. Meals are free!"  # a decimal point ends nothing
    assert guard.stopped and guard.caught is None
    assert guard.feed(" more.") == ""
    one = Guard(max_sentences=1)
    assert stream(one, ["Sure. The", " food"]) == "Sure."  # cut inside a piece
    assert stream(Guard(max_sentences=2), ["One.", " Two"]) == "One. Two"  # not reached


def test_a_stopped_reply_ends_at_a_sentence_end_when_it_has_one():
    # past the first sentence text goes a clause at a time: "You can try:" waits for the list
    pieces = ["I'm not sure.", " You", " can", " try:", " *", " Go"]
    assert stream(Guard(fallback="Sorry?"), pieces) == "I'm not sure."
    pieces = ["Sure.", " The", " weather,", " as", " JSON:", " {"]
    assert stream(Guard(fallback="Sorry?"), pieces) == "Sure. The weather,"
