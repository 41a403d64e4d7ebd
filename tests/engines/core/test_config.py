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


def test_a_refused_update_changes_nothing():
    cfg = config()
    before = cfg.to_session()
    with pytest.raises(ProtocolError) as refused:
        cfg.update(
            {
                "type": "realtime",
                "instructions": "changed",
                "max_output_tokens": 50,
                "tools": [WEATHER],
                "audio": {"input": {"format": {"type": "audio/pcmu"}}},
            }
        )
    assert refused.value.code == "unsupported_audio_format"
    assert refused.value.param == "session.audio.input.format"
    assert cfg.to_session() == before


VAD = "session.audio.input.turn_detection"
OUT_OF_RANGE = [
    ({"max_output_tokens": -1}, "session.max_output_tokens"),
    ({"max_output_tokens": 0}, "session.max_output_tokens"),
    ({"max_output_tokens": 1e9}, "session.max_output_tokens"),
    ({"max_output_tokens": 4097}, "session.max_output_tokens"),
    ({"max_output_tokens": 12.5}, "session.max_output_tokens"),
    ({"max_output_tokens": "lots"}, "session.max_output_tokens"),
    ({"temperature": -0.1}, "session.temperature"),
    ({"temperature": 2.5}, "session.temperature"),
    ({"output_modalities": ["audio", "text"]}, "session.output_modalities"),
    ({"audio": {"output": {"voice": "robot"}}}, "session.audio.output.voice"),
    ({"audio": {"output": {"voice": {"id": "voice_1234"}}}}, "session.audio.output.voice"),
    ({"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": -5}}}}, None),
    ({"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 1.5}}}}, None),
    ({"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": True}}}}, None),
    (
        {
            "audio": {
                "input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": -100}}
            }
        },
        None,
    ),
    (
        {"audio": {"input": {"turn_detection": {"type": "server_vad", "prefix_padding_ms": 1e9}}}},
        None,
    ),
    (
        {
            "audio": {
                "input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 2.5}}
            }
        },
        None,
    ),
    (
        {"audio": {"input": {"turn_detection": {"type": "server_vad", "create_response": "no"}}}},
        None,
    ),
    (
        {"audio": {"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 5000}}}},
        None,
    ),
]


@pytest.mark.parametrize(("update", "param"), OUT_OF_RANGE)
def test_an_out_of_range_value_is_refused_with_its_param_and_changes_nothing(update, param):
    cfg = config()
    before = cfg.to_session()
    with pytest.raises(ProtocolError) as refused:
        cfg.update({"type": "realtime", "instructions": "changed", **update})
    if param is None:  # a turn_detection field: the param names it
        [field] = [k for k in update["audio"]["input"]["turn_detection"] if k != "type"]
        param = f"{VAD}.{field}"
    assert refused.value.param == param
    assert refused.value.code in ("invalid_value", "unsupported_turn_detection")
    assert str(refused.value)  # says what is allowed
    assert cfg.to_session() == before


def test_an_unknown_voice_is_refused_naming_the_voices_there_are():
    cfg = config()
    with pytest.raises(ProtocolError) as refused:
        cfg.update({"type": "realtime", "audio": {"output": {"voice": "robot"}}})
    assert refused.value.code == "invalid_value"
    assert "'robot'" in str(refused.value) and "joe" in str(refused.value)
    cfg.update({"type": "realtime", "audio": {"output": {"voice": "joe"}}})
    assert cfg.to_session()["audio"]["output"]["voice"] == "joe"


@pytest.mark.parametrize("hosted", ["alloy", "ash", "marin"])
def test_a_hosted_voice_is_spoken_in_the_engines_own(hosted):
    """Clients written for the hosted model ask for its voices; the session names the one used."""
    cfg = config()
    cfg.update({"type": "realtime", "audio": {"output": {"voice": hosted}}})
    assert cfg.to_session()["audio"]["output"]["voice"] == "joe"


def test_values_in_range_are_taken():
    cfg = config()
    cfg.update(
        {
            "type": "realtime",
            "max_output_tokens": 200,
            "temperature": 0.7,
            "audio": {
                "input": {
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": 0.8,
                        "silence_duration_ms": 500.0,
                        "prefix_padding_ms": 0,
                        "idle_timeout_ms": None,
                    }
                }
            },
        }
    )
    td = cfg.to_session()["audio"]["input"]["turn_detection"]
    assert (td["threshold"], td["silence_duration_ms"], td["prefix_padding_ms"]) == (0.8, 500, 0)
    assert cfg.max_output_tokens == 200 and cfg.temperature == 0.7


def test_inf_is_the_engines_own_cap_which_the_models_context_bounds():
    cfg = config()  # SmolLM2: a 2048-token context, 512 of history
    cfg.cap_output_tokens(2048)
    assert cfg.output_tokens_cap == 2048 - 512 - 512
    cfg.update({"type": "realtime", "max_output_tokens": "inf"})
    assert cfg.max_output_tokens == cfg.output_tokens_cap
    with pytest.raises(ProtocolError) as refused:
        cfg.update({"type": "realtime", "max_output_tokens": 4096})
    assert refused.value.param == "session.max_output_tokens"
    assert "1 to 1024" in str(refused.value)
    big = config()
    big.cap_output_tokens(128_000)
    big.update({"type": "realtime", "max_output_tokens": "inf"})
    assert big.max_output_tokens == 4096  # the spec's largest


@pytest.mark.parametrize("speed", [0.1, 2, "fast", True])
def test_a_speed_outside_the_specs_range_is_refused(speed):
    cfg = config()
    with pytest.raises(ProtocolError) as refused:
        cfg.update({"type": "realtime", "audio": {"output": {"speed": speed}}})
    assert refused.value.param == "session.audio.output.speed"
    assert "0.25" in str(refused.value) and "1.5" in str(refused.value)
    cfg.update({"type": "realtime", "audio": {"output": {"speed": 1.25}}})
    assert cfg.to_session()["audio"]["output"]["speed"] == 1.25
