"""Client JSON is bounded before it is parsed: size, nesting, audio per append, texts."""

from __future__ import annotations

import base64
import json

import pytest

from tests.images import JPEG, create_image, data_url, image_message, png
from voxgate.protocol import ProtocolError
from voxgate.wire import (
    WireLimits,
    load_client_event,
    loads,
    nested_deeper_than,
    read_client_event,
    validate,
)

LIMITS = WireLimits()


def code_of(text: str | bytes, limits: WireLimits = LIMITS) -> str:
    with pytest.raises(ProtocolError) as refused:
        validate(read_client_event(text, limits), limits)
    return refused.value.code


def test_deep_nesting_is_refused_before_parsing():
    # ~1,000 levels in 2 KB raised RecursionError out of json.loads, dropping the socket
    assert code_of("[" * 1000 + "]" * 1000) == "json_too_deep"
    assert code_of(
        '{"type": "session.update", "session": ' + '{"a": ' * 5000 + "1" + "}" * 5001
    ) == ("json_too_deep")
    assert code_of("[" * 100_000) == "json_too_deep"  # unclosed: no RecursionError either


def test_nesting_up_to_the_limit_parses():
    limits = WireLimits(max_json_depth=8)
    assert loads("[" * 8 + "]" * 8, limits) is not None
    with pytest.raises(ProtocolError, match="deeper than 8"):
        loads("[" * 9 + "]" * 9, limits)
    # brackets inside strings are text, not nesting; escaped quotes do not end a string
    text = json.dumps({"type": "x", "s": "[" * 500 + '\\"{' * 100, "n": [[1], [2], {"a": [3]}]})
    assert not nested_deeper_than(text, 8)
    assert loads(text, limits)["n"][2] == {"a": [3]}
    # many shallow brackets are fine
    assert not nested_deeper_than(json.dumps([[i] for i in range(10_000)]), 3)


def test_malformed_json_is_invalid_json():
    assert code_of("{not json") == "invalid_json"
    assert code_of(b"\xff\xfe") == "invalid_json"
    assert code_of("[" * 20 + "}" * 20) == "invalid_json"
    assert code_of('{"type": "x", "n": ' + "1" * 5000 + "}") == "invalid_json"  # int too long


def test_an_oversized_event_is_refused_unread():
    limits = WireLimits(max_event_bytes=4096)
    assert code_of("x" * 4097, limits) == "event_too_large"
    assert code_of(b"x" * 4097, limits) == "event_too_large"
    # counted in UTF-8 bytes, not characters
    text = json.dumps({"type": "text", "text": "é" * 2100}, ensure_ascii=False)
    assert len(text) < 4096 < len(text.encode())
    assert code_of(text, limits) == "event_too_large"


def test_audio_per_append_is_bounded_before_decoding():
    limits = WireLimits(max_audio_append_bytes=3000)
    ok = {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\0" * 3000).decode()}
    assert validate(read_client_event(json.dumps(ok), limits), limits)["audio"] == b"\0" * 3000
    big = {"type": "input_audio_buffer.append", "audio": "A" * 4004, "event_id": "e1"}
    with pytest.raises(ProtocolError) as refused:
        read_client_event(json.dumps(big), limits)
    assert (refused.value.code, refused.value.param, refused.value.event_id) == (
        "audio_too_large",
        "audio",
        "e1",
    )


def test_item_text_and_instructions_are_bounded():
    limits = WireLimits(max_item_text_chars=10, max_instructions_chars=20)

    def message(text: str) -> str:
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }
        return json.dumps({"type": "conversation.item.create", "item": item})

    assert validate(read_client_event(message("x" * 10), limits), limits)
    with pytest.raises(ProtocolError) as refused:
        validate(read_client_event(message("x" * 11), limits), limits)
    assert refused.value.code == "string_above_max_length"
    assert refused.value.param == "item.content.0.text"
    output = {"type": "function_call_output", "call_id": "c", "output": "y" * 11}
    assert code_of(json.dumps({"type": "conversation.item.create", "item": output}), limits) == (
        "string_above_max_length"
    )
    update = {"type": "session.update", "session": {"type": "realtime", "instructions": "z" * 21}}
    assert code_of(json.dumps(update), limits) == "string_above_max_length"
    create = {"type": "response.create", "response": {"instructions": "z" * 21}}
    assert code_of(json.dumps(create), limits) == "string_above_max_length"


async def test_large_events_parse_off_the_loop_with_the_same_result():
    pcm = bytes(range(256)) * 1024
    text = json.dumps(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}
    )
    assert (await load_client_event(text, LIMITS))["audio"] == pcm
    with pytest.raises(ProtocolError, match="deeper"):
        await load_client_event("[" * 70_000 + "]" * 70_000, LIMITS)


def test_an_image_is_checked_with_its_event_id_and_part():
    limits = WireLimits(max_image_bytes=2000)
    ok = create_image(data_url(png()), "What is this?")
    assert validate(read_client_event(json.dumps(ok), limits), limits)["item"] == ok["item"]
    cases = [
        (data_url(png() + b"\0" * 3000), "image_too_large"),
        (data_url(JPEG, "image/png"), "invalid_image"),
        ("data:image/png;base64,@@@@", "invalid_image"),
        ("https://example.com/cat.png", "invalid_image"),
    ]
    for url, code in cases:
        with pytest.raises(ProtocolError) as refused:
            validate(
                read_client_event(json.dumps(create_image(url, event_id="e7")), limits), limits
            )
        error = refused.value
        assert (error.code, error.param, error.event_id) == (
            code,
            "item.content.0.image_url",
            "e7",
        ), url
    own = {"type": "response.create", "response": {"input": [image_message("data:,x")]}}
    with pytest.raises(ProtocolError) as refused:
        validate(read_client_event(json.dumps(own), limits), limits)
    assert refused.value.param == "response.input.0.content.0.image_url"


def test_only_an_image_takes_a_message_past_the_event_limit_and_only_by_its_size():
    limits = WireLimits(max_event_bytes=4096, max_image_bytes=9000)
    assert limits.max_message_bytes == 4096 + 12_000 + 64
    image = data_url(png() + b"\0" * 8000)
    text = json.dumps(create_image(image, "x" * 1000))
    assert 4096 < len(text) <= limits.max_message_bytes
    assert validate(read_client_event(text, limits), limits)["type"] == "conversation.item.create"
    # as much again in text beside the image is over: the image alone may pass the limit
    padded = json.dumps(create_image(image, "x" * 4000))
    assert len(padded) <= limits.max_message_bytes
    assert code_of(padded, limits) == "event_too_large"
    # another event as large is refused unread, a shortcut too
    assert code_of(json.dumps({"type": "commit_audio", "x": "y" * 8000}), limits) == (
        "event_too_large"
    )
    # two images past the message limit: unread
    two = create_image(image)
    two["item"]["content"].append(dict(two["item"]["content"][0]))
    with pytest.raises(ProtocolError, match="may take a message up to") as refused:
        read_client_event(json.dumps(two), limits)
    assert refused.value.code == "event_too_large"
    # the other routes' JSON (no images there) keep the event limit
    with pytest.raises(ProtocolError) as refused:
        loads(text, limits)
    assert refused.value.code == "event_too_large"


def test_the_default_limits_take_a_4_mib_image():
    image = data_url(JPEG + b"\0" * (4 * 1024 * 1024 - len(JPEG)), "image/jpeg")
    text = json.dumps(create_image(image, "What is in this photo?"))
    assert len(text) > LIMITS.max_event_bytes
    ev = validate(read_client_event(text, LIMITS), LIMITS)
    assert ev["item"]["content"][1]["image_url"] == image
    over = data_url(JPEG + b"\0" * (4 * 1024 * 1024), "image/jpeg")
    assert code_of(json.dumps(create_image(over)), LIMITS) == "image_too_large"
