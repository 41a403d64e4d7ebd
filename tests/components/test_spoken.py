"""A tool's result as words for the user."""

import json

from voxgate.components.llm import spoken


def test_a_sentence_is_said_as_it_is():
    faq = "You may check two bags of up to 23 kg (50 lb) each."
    assert spoken.sentence(faq) == "You may check two bags of up to 23 kg, 50 lb, each."


def test_notes_to_the_model_are_left_out():
    output = (
        "Done: booking ABC123 is now in seat 14C. Confirm the new seat to the user. "
        "(Demo: no real booking was changed.)"
    )
    assert spoken.sentence(output) == (
        "Done: booking ABC123 is now in seat 14C. Demo: no real booking was changed."
    )
    assert spoken.sentence("Paris: sunny, 23 degrees Celsius (demo weather).") == (
        "Paris: sunny, 23 degrees Celsius, demo weather."
    )


def test_a_spoken_form_wins():
    output = json.dumps({"result": {"seat": "14C"}, "spoken": "You are in 14C now."})
    assert spoken.sentence(output) == "You are in 14C now."
    error = json.dumps(
        {"error": "city is empty: ask the user", "status": "error", "spoken": "Which city?"}
    )
    assert spoken.sentence(error) == "Which city?"


def test_errors_become_an_apology():
    assert spoken.sentence(json.dumps({"error": "boom", "status": "error"})) == (
        "Sorry, that did not work. boom"
    )
    hint = json.dumps({"error": "city is empty: ask the user which city", "status": "error"})
    assert spoken.sentence(hint) == spoken.FAILED
    late = json.dumps({"error": "get_weather timed out after 5 s", "status": "timeout"})
    assert spoken.sentence(late) == spoken.TIMED_OUT


def test_data_is_left_to_the_model_with_its_facts():
    output = json.dumps({"city": "Oslo", "temperature_c": 4, "sky": "overcast"})
    assert spoken.sentence(output) is None
    assert spoken.facts(output) == "city Oslo, temperature c 4, sky overcast"
    assert spoken.sentence("[1, 2]") is None
    assert spoken.sentence("call_me(maybe)") is None  # code, not words
