import json

import pytest
from llama_cpp import LlamaGrammar
from llama_cpp.llama_grammar import json_schema_to_gbnf

from voxgate.components.llm import arguments, routing

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
BACK = {
    "type": "function",
    "name": "transfer_to_triage_agent",
    "description": "Hand off to triage_agent for anything that is not an airline FAQ.",
    "parameters": {"type": "object", "properties": {}},
}


def names(options):
    return [o.tool["name"] if o.tool else None for o in options]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", ["get_weather", "transfer_to_triage_agent", None]),
        ("required", ["get_weather", "transfer_to_triage_agent"]),
        ("none", [None]),
        ({"type": "function", "name": "transfer_to_triage_agent"}, ["transfer_to_triage_agent"]),
    ],
)
def test_tool_choice_decides_the_options(choice, expected):
    assert names(routing.options([WEATHER, BACK], choice)) == expected


def test_no_tools_means_reply_only():
    assert names(routing.options([], "required")) == [None]


def test_a_catch_all_is_scored_without_its_negation():
    assert routing.scored_description(BACK) == "Hand off to triage_agent."
    assert routing.scored_description(WEATHER) == WEATHER["description"]
    nameless = {"name": "look_up_order", "description": ""}
    assert routing.scored_description(nameless) == "look up order"


def test_spans_are_runs_of_the_request_words():
    found = arguments.spans("Move booking XYZ789 to seat 2A.")
    assert "XYZ789" in found and "2A" in found and "seat 2A" in found
    assert "Move booking XYZ789 to seat 2A." in found  # the whole request, as typed
    assert all(not s.endswith(".") for s in found[:-1])
    assert arguments.spans("   ") == []


def test_arguments_schema_requires_every_property_and_copies_strings():
    tool = {
        "name": "book",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["c", "f"]},
                "nights": {"type": "integer"},
            },
        },
    }
    schema = arguments.arguments_schema(tool, "two nights in Paris")
    assert schema["required"] == ["city", "unit", "nights"]
    assert "Paris" in schema["properties"]["city"]["enum"]
    assert schema["properties"]["unit"]["enum"] == ["c", "f"]  # the tool's own enum stays
    assert "enum" not in schema["properties"]["nights"]
    assert tool["parameters"]["properties"]["city"] == {"type": "string"}  # not modified
    # llama.cpp turns it into a grammar it accepts
    LlamaGrammar.from_string(json_schema_to_gbnf(json.dumps(schema)), verbose=False)


def test_arguments_schema_without_a_request_bounds_strings():
    schema = arguments.arguments_schema(WEATHER, "")
    assert schema["properties"]["city"]["maxLength"] == arguments.MAX_ARGUMENT_CHARS


def test_last_user_text_is_none_after_a_tool_result():
    messages = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    assert routing.last_user_text(messages) == "Weather in Paris?"
    messages += [
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    assert routing.last_user_text(messages) is None


def test_after_a_handoff_the_new_agent_routes_the_request():
    def call(call_id, name):
        return [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call_id, "content": "ok"},
        ]

    faq_tools = [{"type": "function", "name": "faq_lookup_tool"}]
    triage_tools = [{"type": "function", "name": "transfer_to_faq_agent"}]
    messages = [{"role": "user", "content": "How many bags can I check?"}]
    messages += call("c1", "transfer_to_faq_agent")
    # triage's call: the FAQ agent now routes the user's question itself
    assert routing.last_user_text(messages, faq_tools) == "How many bags can I check?"
    # its own tool's result: speak it
    assert routing.last_user_text([*messages, *call("c2", "faq_lookup_tool")], faq_tools) is None
    # handed back: triage routes it on, but not to an agent it has visited already
    back = [*messages, *call("c2", "transfer_to_triage_agent")]
    assert routing.last_user_text(back, triage_tools) == "How many bags can I check?"
    assert routing.called_since_request(back) == {
        "transfer_to_faq_agent",
        "transfer_to_triage_agent",
    }
    assert routing.called_since_request([*back, messages[0]]) == set()


def test_plain_history_leaves_the_tool_machinery_out():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"forecast": "sunny, 21 C"}'},
        {"role": "assistant", "content": "Sunny, 21 degrees."},
        {"role": "user", "content": "Thanks!"},
    ]
    plain = routing.plain_history(messages)
    assert plain == [messages[0], messages[1], messages[4], messages[5]]
    text = json.dumps(plain)
    assert "get_weather" not in text and "forecast" not in text and "called" not in text
    assert routing.plain_history(messages, turns=1) == [messages[0], messages[5]]
    assert routing.plain_history(messages, turns=2) == plain
    with_facts = routing.plain_history(messages[:4], "forecast sunny, 21 C")
    assert with_facts[0]["content"] == "Be brief.\nWhat you found out: forecast sunny, 21 C"
    assert [m["role"] for m in with_facts] == ["system", "user"]


def test_instructions_about_tools_are_left_out_when_the_model_talks():
    triage = (
        "You are a helpful triaging agent for an airline. Use your tools: answer weather "
        "questions with get_weather, hand FAQ questions to the FAQ agent."
    )
    assert (
        routing.talking_instructions(triage) == "You are a helpful triaging agent for an airline."
    )
    faq = "Be brief. If the question is not about the airline, transfer back to triage."
    assert routing.talking_instructions(faq) == "Be brief."
    assert routing.talking_instructions("Use your tools.") == "Use your tools."  # nothing else
    plain = routing.plain_history([{"role": "system", "content": triage}])
    assert plain == [
        {"role": "system", "content": "You are a helpful triaging agent for an airline."}
    ]


def test_last_tool_result_names_the_tool():
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "function": {"name": "get_weather", "arguments": "{}"}}],
        },
    ]
    assert routing.last_tool_result(messages) is None
    messages.append({"role": "tool", "tool_call_id": "c1", "content": "Sunny."})
    assert routing.last_tool_result(messages) == ("get_weather", "Sunny.")


def test_examples_travel_in_the_description():
    described = routing.with_examples("Get the weather.", ['Is it "hot" in Rome?', "Rain?"])
    assert described == 'Get the weather. For example: "Is it \\"hot\\" in Rome?" "Rain?"'
    assert routing.split_examples(described) == (
        "Get the weather.",
        ['Is it "hot" in Rome?', "Rain?"],
    )
    assert routing.split_examples("Get the weather.") == ("Get the weather.", [])
    assert routing.with_examples("Get the weather.", []) == "Get the weather."
    tool = {**BACK, "description": routing.with_examples(BACK["description"], ["Weather?"])}
    assert routing.scored_description(tool) == "Hand off to triage_agent."


SEAT = {
    "name": "update_seat",
    "description": "Change the seat for a booking.",
    "parameters": {
        "type": "object",
        "properties": {
            "confirmation_number": {"type": "string"},
            "new_seat": {"type": "string"},
        },
    },
}


def test_a_question_is_taken_whole():
    faq = {
        "name": "faq_lookup_tool",
        "parameters": {"type": "object", "properties": {"question": {"type": "string"}}},
    }
    assert json.loads(arguments.free_text_arguments(faq, " Is there wifi? ")) == {
        "question": "Is there wifi?"
    }
    assert arguments.free_text_arguments(faq, "") is None
    assert arguments.free_text_arguments(WEATHER, "Weather in Rome?") is None  # a city, not all
    assert arguments.free_text_arguments(SEAT, "ABC123 to 14C") is None


def test_a_request_that_only_names_the_tool_gives_no_arguments():
    assert arguments.missing_arguments(SEAT, "I would like to change my seat please.") == [
        "confirmation_number",
        "new_seat",
    ]
    assert arguments.missing_arguments(SEAT, "Booking ABC123, seat 14C.") == []
    assert arguments.missing_arguments(WEATHER, "What's the weather like today?") == ["city"]
    assert arguments.missing_arguments(WEATHER, "What's the weather in Paris?") == []


def test_asking_for_arguments_names_them():
    assert arguments.ask_for(SEAT, ["confirmation_number", "new_seat"]) == (
        "Sure, I can help with that. What is your confirmation number and new seat?"
    )
    city = {**WEATHER, "parameters": {"properties": {"city": {"description": "The city."}}}}
    assert arguments.ask_for(city, ["city"]).endswith("What is your city?")


def test_chatml_ends_ready_for_the_assistant():
    text = routing.chatml([{"role": "user", "content": "hi"}])
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_one_value_for_two_slots_is_ungrounded():
    seat = {
        "name": "update_seat",
        "parameters": {
            "type": "object",
            "properties": {
                "confirmation_number": {"type": "string"},
                "new_seat": {"type": "string"},
            },
        },
    }
    both = ["confirmation_number", "new_seat"]
    assert arguments.ungrounded(seat, '{"confirmation_number": "22F", "new_seat": "22F"}') == both
    assert not arguments.ungrounded(seat, '{"confirmation_number": "QW5T7Z", "new_seat": "22F"}')
    assert not arguments.ungrounded(WEATHER, '{"city": "Paris"}')
    assert arguments.ungrounded(WEATHER, "not json") == ["city"]


def test_a_value_of_common_words_fills_no_slot():
    assert arguments.ungrounded(SEAT, '{"confirmation_number": "my", "new_seat": "seat 3A"}') == [
        "confirmation_number"
    ]
    assert arguments.ungrounded(WEATHER, '{"city": "the weather"}') == ["city"]


def test_a_value_is_a_span_whatever_its_case_and_edge_punctuation():
    spans = arguments.spans("Move ABC123 to seat 14C, please.")
    assert arguments.as_span("abc123", spans) == "ABC123"
    assert arguments.as_span("14C.", spans) == "14C"
    assert arguments.as_span("seat 14C", spans) == "seat 14C"
    assert arguments.as_span("XYZ789", spans) is None
    assert arguments.as_span("", spans) is None


def test_a_string_choice_is_a_string_out_of_a_list():
    schema = arguments.arguments_schema(WEATHER, "weather in Paris")
    assert arguments.string_choice(schema["properties"]["city"])
    assert arguments.string_choice({"type": "string", "enum": ["c", "f"]})
    assert not arguments.string_choice({"type": "string", "pattern": "^[A-Z]{3}$"})
    assert not arguments.string_choice({"type": "integer", "enum": [1, 2]})


CODE = "^[A-Z0-9]{6}$"
ROW_SEAT = "^([1-9]|[1-3][0-9]|40)([A-F])$"
BOOKING = {
    "type": "function",
    "name": "update_seat",
    "description": "Change the seat for a booking.",
    "parameters": {
        "type": "object",
        "properties": {
            "confirmation_number": {"type": "string", "pattern": CODE},
            "new_seat": {"type": "string", "pattern": ROW_SEAT},
        },
    },
}


@pytest.mark.parametrize(
    ("request_", "code", "seat"),
    [
        ("My confirmation number is ABC 123 and I want to see 14c.", ["ABC123"], ["14C"]),
        ("My confirmation number is A B C one two three.", ["ABC123"], []),
        ("Code QWE456, seat 3 C please.", ["QWE456"], ["3C"]),
        ("my booking is abc-123", ["ABC123"], []),
        ("I would like to change my seat please.", [], []),
        ("I'm flying to Berlin.", [], []),  # "FLYING" would fit the code: never upper-cased
    ],
)
def test_a_patterned_value_is_what_the_request_says_in_that_form(request_, code, seat):
    vocabulary = {"confirmation", "number", "seat", "new", "booking"}
    assert arguments.pattern_values(CODE, request_, vocabulary) == code
    assert arguments.pattern_values(ROW_SEAT, request_, vocabulary) == seat


def test_a_patterned_property_is_a_choice_of_the_values_that_fit():
    request_ = "My confirmation number is ABC 123 and I want to see 14c."
    properties = arguments.arguments_schema(BOOKING, request_)["properties"]
    assert properties["confirmation_number"] == {"type": "string", "enum": ["ABC123"]}
    assert arguments.string_choice(properties["new_seat"])
    # nothing fits: the pattern stays for the grammar, and the value is asked for
    properties = arguments.arguments_schema(BOOKING, "Seat 14C please.")["properties"]
    assert properties["confirmation_number"]["pattern"] == CODE
    assert arguments.missing_arguments(BOOKING, "Seat 14C please.") == ["confirmation_number"]
    assert arguments.missing_arguments(BOOKING, "Booking ABC 123, seat 14C.") == []
    assert arguments.pattern_values("([", "ABC123") == []  # a pattern Python cannot read
