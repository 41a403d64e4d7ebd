import math

from voxgate.bench.wer import plain_wer, wer


def test_the_same_words_written_differently_are_no_error():
    said = ["My seat is fourteen C.", "What is the weather?", "When does check-in open?"]
    heard = ["My seat is 14C", "What's the weather", "When does check in open?"]
    assert wer(said, heard) == 0.0
    assert plain_wer(said, heard) > 0.1  # as the benches first counted


def test_words_misheard_or_missing_are_errors():
    assert wer(["Is there wifi on board?"], ["Is there wife I on board"]) == 0.4
    assert wer(["two bags", "a meal"], ["", "a meal"]) == 0.5  # nothing heard: both words lost
    assert math.isnan(wer([""], ["anything"]))  # nothing said: no rate
