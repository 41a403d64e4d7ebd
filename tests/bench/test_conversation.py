import shutil

import pytest

from voxgate.bench.conversation import Turn, espeak, leaks


@pytest.mark.parametrize(
    "spoken",
    [
        "I called faq_lookup_tool({}).",
        'Result of get_weather: {"city": "Paris"}',
        "Tell me this result in one short sentence.",
        "Let me use the transfer_to_faq_agent function.",
    ],
)
def test_scaffolding_is_found(spoken):
    assert leaks(spoken)


@pytest.mark.parametrize(
    "spoken",
    [
        "You may check two bags of up to 23 kg each.",
        "It is sunny in Tokyo, 21 degrees Celsius.",
        "Your seat is now 14C. Have a good flight, Sarah!",
    ],
)
def test_plain_answers_are_not_scaffolding(spoken):
    assert leaks(spoken) == []


def test_a_turn_is_good_only_with_the_expected_tool_and_words():
    turn = Turn(said="Is there wifi?", spoken="Yes, free wifi on board.")
    turn.calls = ["transfer_to_faq_agent({})", 'faq_lookup_tool({"question": "wifi"})']
    turn.handoffs = ["faq_agent"]
    assert turn.verdict("faq_lookup_tool") == "good"
    assert turn.verdict(None) == "wrong route"
    turn.handoffs = ["faq_agent", "triage_agent"]
    assert turn.verdict("faq_lookup_tool") == "wrong route"
    assert Turn(said="Hi", spoken="").verdict(None) == "no answer"
    assert Turn(said="Hi", spoken="I called get_weather().").verdict(None) == "leak"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_espeak_speaks_pcm16_at_24_khz():
    pcm = espeak("Hello there.")
    assert len(pcm) % 2 == 0 and 0.3 < len(pcm) / 2 / 24000 < 3
