import base64

import pytest

from voxgate.protocol import (
    ProtocolError,
    error_event,
    parse_client_event,
    to_wire,
    validate_server_event,
)


def test_append_audio_is_decoded_to_bytes():
    ev = parse_client_event(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\1\0").decode()}
    )
    assert ev["audio"] == b"\1\0"


@pytest.mark.parametrize(
    ("data", "code", "param"),
    [
        ([1, 2], "invalid_event", None),
        ({"no": "type"}, "invalid_event", "type"),
        ({"type": "nonsense.event"}, "unknown_event_type", "type"),
        (
            {"type": "session.update", "session": {"type": "realtime", "instructions": 5}},
            "invalid_value",
            None,
        ),
        ({"type": "input_audio_buffer.append", "audio": "###"}, "invalid_value", "audio"),
        (
            {
                "type": "conversation.item.truncate",
                "item_id": "x",
                "content_index": 0,
                "audio_end_ms": "soon",
            },
            "invalid_value",
            "audio_end_ms",
        ),
    ],
)
def test_bad_client_events_are_refused_with_a_clear_error(data, code, param):
    with pytest.raises(ProtocolError) as info:
        parse_client_event(data)
    assert info.value.code == code
    if param:
        assert param in (info.value.param or "")
    error = info.value.to_event()
    validate_server_event(error)
    assert error["error"]["message"]


def test_event_id_of_the_bad_event_is_reported():
    with pytest.raises(ProtocolError) as info:
        parse_client_event({"type": "bogus", "event_id": "evt_1"})
    assert info.value.to_event()["error"]["event_id"] == "evt_1"


def test_audio_deltas_go_to_the_wire_as_base64():
    ev = {
        "type": "response.output_audio.delta",
        "delta": b"\0\1",
        "response_id": "r",
        "item_id": "i",
        "output_index": 0,
        "content_index": 0,
        "event_id": "e",
    }
    wire = to_wire(ev)
    assert wire["delta"] == "AAE="
    validate_server_event(wire)
    validate_server_event(error_event("x", code="y"))
