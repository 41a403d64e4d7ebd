import shutil

import pytest

from voxgate.bench.conversation import CONVERSATION, Line, Turn, _follow, espeak, leaks
from voxgate.client import cut_by_next_words, spoken_reply_done


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


def test_a_turn_is_judged_by_its_tools_its_agent_and_its_path():
    seat = Line("I would like to change my seat please.", None, "seat_booking_agent")
    asked = Turn(said=seat.text, spoken="What is your confirmation number?")
    asked.path = ["faq_agent", "triage_agent", "seat_booking_agent"]  # back, then on
    assert asked.verdict(seat, "seat_booking_agent") == "good"
    assert asked.verdict(seat, "faq_agent") == "wrong route"
    circled = Turn(said=seat.text, spoken="Sure.", path=["faq_agent", "triage_agent", "faq_agent"])
    assert circled.verdict(Line("Could you repeat that?", None), "faq_agent") == "wrong route"
    bags = Line("How many bags?", "faq_lookup_tool")
    looked = Turn(said=bags.text, spoken="Two bags.", calls=['faq_lookup_tool({"question": "x"})'])
    assert looked.verdict(bags, None) == "good"
    assert Turn(said="x", spoken="").verdict(bags, None) == "no answer"
    assert Turn(said="x", spoken="I called it({})").verdict(bags, None) == "leak"
    assert len(CONVERSATION) == 10


def test_a_request_to_repeat_wants_the_last_answers_words_again():
    again = Line("Could you repeat that more slowly?", None, repeats=True)
    answer = "Small dogs may travel in the cabin."
    repeated = Turn(said=again.text, spoken="Small dogs may travel in the cabin!")
    assert repeated.verdict(again, None, answer) == "good"
    made_up = Turn(said=again.text, spoken="Yes, I can repeat that. It's 125 dollars.")
    assert made_up.verdict(again, None, answer) == "not repeated"
    assert [line.repeats for line in CONVERSATION].count(True) == 1


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_espeak_speaks_pcm16_at_24_khz():
    pcm = espeak("Hello there.")
    assert len(pcm) % 2 == 0 and 0.3 < len(pcm) / 2 / 24000 < 3


def test_a_reply_cut_by_the_callers_next_words_is_not_the_answer():
    def done(status, reason=None, output=()):
        details = {"type": status, "reason": reason} if reason else None
        response = {"id": "r", "status": status, "status_details": details, "output": output}
        return {"type": "response.done", "response": response}

    cut = done("cancelled", "turn_detected")
    assert spoken_reply_done(cut) and cut_by_next_words(cut)
    assert not cut_by_next_words(done("cancelled", "client_cancelled"))
    answered = done("completed", output=[{"type": "message"}])
    assert spoken_reply_done(answered) and not cut_by_next_words(answered)
    assert not cut_by_next_words({"type": "response.created", "response": {}})


def test_a_turn_tells_where_the_server_says_its_wait_went():
    turn = Turn(said="Is there wifi on board?")
    routed = {"vad_delay_ms": 150.0, "stt_ms": 111.2, "llm_first_token_ms": 24.0}
    spoken = {"llm_first_token_ms": 2.0, "tts_first_audio_ms": 86.4, "voice_to_voice_ms": 261}
    cut = {"tts_first_audio_ms": 999.0}
    for status, figures in [("completed", routed), ("cancelled", cut), ("completed", spoken)]:
        ev = {"type": "voxgate.metrics", "status": status, "metrics": figures}
        _follow(turn, ev, 0.0, 0.0)
    assert turn.breakdown() == "vad 150 · stt 111 · llm 24 · tts 86 · server v2v 261"
    assert Turn(said="x").breakdown() == ""
