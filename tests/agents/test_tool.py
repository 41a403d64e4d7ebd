import asyncio
import json
import threading
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from voxgate.agents import Agent, ToolContext, tool
from voxgate.agents.tool import ToolError, ToolResult, error_output, output_text


@tool
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Get the current weather for a city.

    Args:
        city: The city, e.g. Paris.
        unit: Temperature unit.
    """
    return f"{city}: 20 degrees {unit}"


def test_schema_from_hints_and_docstring():
    assert get_weather.definition() == {
        "type": "function",
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city, e.g. Paris."},
                "unit": {
                    "type": "string",
                    "enum": ["celsius", "fahrenheit"],
                    "default": "celsius",
                    "description": "Temperature unit.",
                },
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    }


def test_options_nested_models_and_context_parameter():
    class Seat(BaseModel):
        row: int
        letter: str

    @tool(name="book", timeout=2.5, cancel_on_barge_in=True)
    async def book_seat(
        context: ToolContext, seat: Seat, count: Annotated[int, Field(ge=1, le=4)] = 1
    ) -> dict:
        """Book seats."""
        return {}

    assert (book_seat.name, book_seat.timeout, book_seat.cancel_on_barge_in) == ("book", 2.5, True)
    params = book_seat.parameters
    assert set(params["properties"]) == {"seat", "count"}  # the context is not the model's
    assert params["properties"]["count"]["maximum"] == 4
    assert "$defs" in params and "title" not in params
    assert book_seat.context_parameter == "context"


async def test_invoke_sync_in_its_own_thread_and_async_directly():
    threads = []

    @tool
    def where() -> str:
        """Which thread."""
        threads.append(threading.current_thread())
        return "ok"

    @tool
    async def add(a: int, b: int) -> int:
        """Add."""
        await asyncio.sleep(0)
        return a + b

    assert await where.invoke("{}", None) == "ok"  # type: ignore[arg-type]
    assert threads[0] is not threading.main_thread() and threads[0].daemon
    assert await add.invoke('{"a": 2, "b": "3"}', None) == 5  # type: ignore[arg-type]


async def test_bad_arguments_are_tool_errors_naming_the_problem():
    with pytest.raises(ToolError, match="not valid JSON"):
        await get_weather.invoke("{city", None)  # type: ignore[arg-type]
    with pytest.raises(ToolError, match="city: Field required"):
        await get_weather.invoke('{"unit": "celsius"}', None)  # type: ignore[arg-type]
    with pytest.raises(ToolError, match="unit"):
        await get_weather.invoke('{"city": "Oslo", "unit": "kelvin"}', None)  # type: ignore[arg-type]
    with pytest.raises(ToolError, match="must be a JSON object"):
        await get_weather.invoke("[1]", None)  # type: ignore[arg-type]


def test_outputs():
    assert output_text("hi") == "hi"
    assert json.loads(output_text({"a": [1, 2]})) == {"a": [1, 2]}
    with pytest.raises(ToolError, match="not JSON-serialisable"):
        output_text({"when": object()})
    with pytest.raises(ToolError, match="not JSON-serialisable"):
        output_text(float("nan"))
    assert json.loads(error_output("boom", status="timeout")) == {
        "error": "boom",
        "status": "timeout",
    }


def test_a_result_or_an_error_may_carry_what_the_user_hears():
    assert json.loads(output_text(ToolResult({"seat": "14C"}, spoken="You are in 14C."))) == {
        "result": {"seat": "14C"},
        "spoken": "You are in 14C.",
    }
    assert json.loads(output_text(ToolResult("Seat 14C.", spoken="Done."))) == {
        "result": "Seat 14C.",
        "spoken": "Done.",
    }
    assert json.loads(error_output("no city: ask the user", spoken="Which city?")) == {
        "error": "no city: ask the user",
        "status": "error",
        "spoken": "Which city?",
    }
    assert ToolError("x", spoken="Sorry.").spoken == "Sorry." and ToolError("x").spoken is None


def test_examples_route_requests_to_a_tool_and_through_handoffs():
    @tool(examples=["Is it raining in Oslo?"])
    def weather(city: str) -> str:
        """Get the weather."""
        return city

    @tool(examples=["I want seat 3A."])
    def seat(number: str) -> str:
        """Change seats."""
        return number

    assert weather.definition()["description"] == (
        'Get the weather. For example: "Is it raining in Oslo?"'
    )
    seats = Agent("seat_agent", "Seats.", tools=[seat])
    faq = Agent("faq_agent", "FAQ.")
    triage = Agent("triage_agent", "Triage.", tools=[weather], handoffs=[faq, seats])
    faq.handoffs.append(triage)
    seats.handoffs.append(triage)
    tools = {t["name"]: t["description"] for t in faq.session_config()["tools"]}
    # back to triage, then on: the request finds the seat agent through triage
    assert tools["transfer_to_triage_agent"].endswith(
        'For example: "Is it raining in Oslo?" "I want seat 3A."'
    )
    tools = {t["name"]: t["description"] for t in triage.session_config()["tools"]}
    assert tools["transfer_to_seat_agent"].endswith('For example: "I want seat 3A."')
    assert "For example" not in tools["transfer_to_faq_agent"]  # nothing lies behind it


def test_agent_tools_handoffs_and_session_config():
    faq = Agent("faq_agent", "Answer FAQs.", handoff_description="answers airline questions.")
    triage = Agent("triage_agent", "Triage.", tools=[get_weather], handoffs=[faq], voice="joe")
    faq.handoffs.append(triage)
    config = triage.session_config()
    assert config["instructions"] == "Triage." and config["audio"] == {"output": {"voice": "joe"}}
    assert [t["name"] for t in config["tools"]] == ["get_weather", "transfer_to_faq_agent"]
    assert config["tools"][1]["description"] == "Hand off to faq_agent: answers airline questions."
    assert config["tools"][1]["parameters"] == {"type": "object", "properties": {}}
    assert [a.name for a in triage.graph()] == ["triage_agent", "faq_agent"]
    assert "audio" not in faq.session_config()


def test_plain_functions_become_tools_and_bad_agents_are_refused():
    def lookup(q: str) -> str:
        """Look up."""
        return q

    assert Agent("a", "x", tools=[lookup]).all_tools()[0].name == "lookup"
    with pytest.raises(ValueError, match="tool name"):
        tool(name="look up")(lookup)
    with pytest.raises(ValueError, match="agent name"):
        Agent("no spaces", "x")
    with pytest.raises(ValueError, match="several tools named"):
        Agent("a", "x", tools=[lookup, lookup])


def test_an_agent_resolves_its_tools_once_and_again_after_a_change():
    def lookup(q: str) -> str:
        """Look up."""
        return q

    faq = Agent("faq_agent", "x")
    agent = Agent("a", "x", tools=[lookup], handoffs=[faq])
    first = agent.all_tools()
    assert [t is u for t, u in zip(first, agent.all_tools(), strict=True)] == [True, True]
    assert agent.tool("transfer_to_faq_agent") is first[1] and agent.tool("nope") is None
    other = Agent("other", "x")
    agent.handoffs.append(other)
    assert agent.tool("transfer_to_other") is not None
    assert [t.name for t in agent.all_tools()] == [
        "lookup",
        "transfer_to_faq_agent",
        "transfer_to_other",
    ]


def test_a_tool_context_broadcasts_voxgate_events_only():
    shown = []
    context = ToolContext("call_1", "s1", Agent("a", "x"), None, shown.append)  # type: ignore[arg-type]
    context.broadcast({"type": "voxgate.progress", "percent": 50})
    with pytest.raises(ValueError, match="voxgate"):
        context.broadcast({"type": "response.create"})
    assert shown == [{"type": "voxgate.progress", "percent": 50}]
