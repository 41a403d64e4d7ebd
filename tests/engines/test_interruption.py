import pytest

from voxgate.engines.local.interruption import is_backchannel


@pytest.mark.parametrize(
    "transcript",
    [
        "",
        " ",
        "Okay.",
        "Mm-hmm.",
        "Uh-huh.",
        "Yeah, yeah.",
        "Okay, I see.",
        "Right.",
        "[coughs]",
        "Thank you.",
    ],
)
def test_backchannels_and_noise_are_no_interruption(transcript):
    assert is_backchannel(transcript)


@pytest.mark.parametrize(
    "transcript",
    [
        "Stop.",
        "Wait.",
        "No.",
        "Okay, but what about Berlin?",
        "Yes yes yes yes yes",
        "Hold on.",
        "Thank you, that's all.",
    ],
)
def test_words_that_ask_for_something_interrupt(transcript):
    assert not is_backchannel(transcript)
