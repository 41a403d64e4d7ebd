import pytest

from voxgate.engines.core.config import SessionConfig, check_tool_choice, check_tools
from voxgate.protocol import ProtocolError
from voxgate.settings import Settings

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def config() -> SessionConfig:
    return SessionConfig.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]


def test_tools_and_tool_choice_are_reported_in_the_session():
    cfg = config()
    cfg.update({"type": "realtime", "tools": [WEATHER], "tool_choice": "required"})
    session = cfg.to_session()
    assert session["tools"] == [WEATHER] and session["tool_choice"] == "required"


def test_a_tool_without_parameters_gets_an_empty_object_schema():
    [tool] = check_tools([{"type": "function", "name": "hang_up"}], param="session.tools")
    assert tool["parameters"] == {"type": "object", "properties": {}}
    assert tool["description"] == ""


def test_a_bad_tool_leaves_the_session_as_it_was():
    cfg = config()
    cfg.update({"type": "realtime", "tools": [WEATHER]})
    with pytest.raises(ProtocolError) as refused:
        cfg.update(
            {
                "type": "realtime",
                "instructions": "changed",
                "tools": [WEATHER, {"type": "function", "name": "x", "parameters": []}],
            }
        )
    assert refused.value.code == "invalid_tool"
    assert refused.value.param == "session.tools[1].parameters"
    assert cfg.tools == [WEATHER] and cfg.instructions != "changed"


def test_a_forced_function_that_goes_away_falls_back_to_auto():
    cfg = config()
    cfg.update(
        {
            "type": "realtime",
            "tools": [WEATHER],
            "tool_choice": {"type": "function", "name": "get_weather"},
        }
    )
    assert cfg.tool_choice == {"type": "function", "name": "get_weather"}
    cfg.update({"type": "realtime", "tools": []})
    assert cfg.tool_choice == "auto"


@pytest.mark.parametrize("choice", ["sometimes", {"type": "function", "name": "nope"}, 3])
def test_a_bad_tool_choice_is_refused(choice):
    with pytest.raises(ProtocolError) as refused:
        check_tool_choice(choice, [WEATHER], param="session.tool_choice")
    assert refused.value.code == "invalid_tool_choice"


@pytest.mark.parametrize(
    "value",
    [
        "auto",
        "disabled",
        {"type": "retention_ratio", "retention_ratio": 0.8},
        {
            "type": "retention_ratio",
            "retention_ratio": 0.5,
            "token_limits": {"post_instructions": 300},
        },
    ],
)
def test_truncation_is_taken_and_reported(value):
    cfg = config()
    cfg.update({"type": "realtime", "truncation": value})
    assert cfg.to_session()["truncation"] == value


@pytest.mark.parametrize(
    ("value", "param"),
    [
        ("sometimes", "session.truncation"),
        ({"type": "retention_ratio", "retention_ratio": 1.5}, "session.truncation.retention_ratio"),
        (
            {
                "type": "retention_ratio",
                "retention_ratio": 0.5,
                "token_limits": {"post_instructions": 0},
            },
            "session.truncation.token_limits.post_instructions",
        ),
    ],
)
def test_bad_truncation_is_refused_and_changes_nothing(value, param):
    cfg = config()
    with pytest.raises(ProtocolError) as refused:
        cfg.update({"type": "realtime", "instructions": "changed", "truncation": value})
    assert refused.value.param == param
    assert cfg.instructions != "changed" and cfg.to_session()["truncation"] == "auto"
