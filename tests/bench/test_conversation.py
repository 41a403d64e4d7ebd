from voxgate.bench.conversation import CONVERSATION, Line, Turn, leaks


def test_leaks_find_scaffolding_in_spoken_words():
    assert leaks("I called faq_lookup_tool({}).")
    assert not leaks("You may check two bags of up to 23 kg each.")


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
