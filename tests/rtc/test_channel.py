"""Data-channel messages no larger than the other side takes."""

from __future__ import annotations

import json

from tests.images import create_image, data_url, png
from voxgate.rtc.channel import DEFAULT_MAX_MESSAGE, fit_message, max_message_size


def test_the_largest_message_is_the_sdps():
    assert max_message_size("v=0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n") == 262144
    assert max_message_size("v=0\r\na=max-message-size:0\r\n") == 0  # any size
    assert max_message_size("v=0\r\na=sctp-port:5000\r\n") == DEFAULT_MAX_MESSAGE == 65536


def test_a_large_item_goes_without_its_image_data_and_anything_else_as_an_error():
    item = create_image(data_url(png() + b"\0" * 5000), "Look")["item"]
    added = {"type": "conversation.item.added", "item": {"id": "i1", **item}}
    assert json.loads(fit_message(added, 0)) == added  # any size
    assert json.loads(fit_message(added, 100_000)) == added
    fitted = json.loads(fit_message(added, 1000))
    assert fitted["item"]["content"] == [
        {"type": "input_text", "text": "Look"},
        {"type": "input_image", "detail": "auto"},
    ]
    refused = json.loads(fit_message({"type": "response.done", "x": "y" * 2000}, 1000))
    assert refused["type"] == "error"
    assert refused["error"]["code"] == "event_too_large"
    assert "response.done" in refused["error"]["message"]
    assert json.loads(fit_message(added, 100))["type"] == "error"  # too large even without
