import json

import pytest
from llama_cpp import LlamaGrammar
from llama_cpp.llama_grammar import json_schema_to_gbnf

from voxgate.components.llm import routing

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
    found = routing.spans("Move booking XYZ789 to seat 2A.")
    assert "XYZ789" in found and "2A" in found and "seat 2A" in found
    assert "Move booking XYZ789 to seat 2A." in found  # the whole request, as typed
    assert all(not s.endswith(".") for s in found[:-1])
    assert routing.spans("   ") == []


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
    schema = routing.arguments_schema(tool, "two nights in Paris")
    assert schema["required"] == ["city", "unit", "nights"]
    assert "Paris" in schema["properties"]["city"]["enum"]
    assert schema["properties"]["unit"]["enum"] == ["c", "f"]  # the tool's own enum stays
    assert "enum" not in schema["properties"]["nights"]
    assert tool["parameters"]["properties"]["city"] == {"type": "string"}  # not modified
    # llama.cpp turns it into a grammar it accepts
    LlamaGrammar.from_string(json_schema_to_gbnf(json.dumps(schema)), verbose=False)


def test_arguments_schema_without_a_request_bounds_strings():
    schema = routing.arguments_schema(WEATHER, "")
    assert schema["properties"]["city"]["maxLength"] == routing.MAX_ARGUMENT_CHARS


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
    # handed back: triage does not route the same request again
    back = [*messages, *call("c2", "transfer_to_triage_agent")]
    assert routing.last_user_text(back, triage_tools) is None


def test_plain_history_spells_out_calls_and_results():
    messages = [
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
    ]
    plain = routing.plain_history(messages)
    assert plain[0] == messages[0]
    assert plain[1] == {
        "role": "assistant",
        "content": 'I called get_weather({"city": "Paris"}).',
    }
    assert plain[2]["role"] == "user"
    assert plain[2]["content"].startswith('Result of get_weather: {"forecast": "sunny, 21 C"}')
    assert all(isinstance(m["content"], str) for m in plain)


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
    assert routing.ungrounded(seat, '{"confirmation_number": "22F", "new_seat": "22F"}')
    assert not routing.ungrounded(seat, '{"confirmation_number": "QW5T7Z", "new_seat": "22F"}')
    assert not routing.ungrounded(WEATHER, '{"city": "Paris"}')
    assert routing.ungrounded(WEATHER, "not json")
