"""``input_image`` parts: what the wire takes as an image, and what it refuses, with which code."""

from __future__ import annotations

import base64

import pytest

from tests.images import GIF, JPEG, WEBP, create_image, data_url, png
from voxgate.images import check_image, image_info, image_parts, without_image_data
from voxgate.protocol import ProtocolError


def refusal(url: object, max_bytes: int = 1 << 20) -> ProtocolError:
    with pytest.raises(ProtocolError) as refused:
        check_image(url, max_bytes=max_bytes, param="item.content.0.image_url", event_id="e1")
    assert refused.value.param == "item.content.0.image_url"
    assert refused.value.event_id == "e1"
    return refused.value


@pytest.mark.parametrize(
    ("image", "media_type"),
    [(png(), "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp")],
)
def test_each_image_type_is_taken_with_its_size(image, media_type):
    info = check_image(data_url(image, media_type), max_bytes=1 << 20, param="p")
    assert (info.media_type, info.size) == (media_type, len(image))
    assert image_info(data_url(image, media_type)) == info  # the same, without decoding


def test_the_type_is_read_case_blind_and_parameters_are_allowed():
    url = "DATA:Image/PNG;name=x.png;base64," + base64.b64encode(png()).decode()
    assert check_image(url, max_bytes=1 << 20, param="p").media_type == "image/png"


def test_bytes_that_are_not_the_named_type_are_refused():
    error = refusal(data_url(JPEG, "image/png"))
    assert error.code == "invalid_image"
    assert "not a image/png image" in str(error)
    assert refusal(data_url(b"just some text", "image/jpeg")).code == "invalid_image"
    assert refusal(data_url(b"RIFF\0\0\0\0WAVEfmt ", "image/webp")).code == "invalid_image"
    assert refusal(data_url(b"", "image/png")).code == "invalid_image"


def test_a_type_that_is_not_an_image_we_take_is_refused():
    error = refusal(data_url(b"<svg/>", "image/svg+xml"))
    assert error.code == "invalid_image" and "image/svg+xml" in str(error)
    assert refusal(data_url(b"hello", "text/plain")).code == "invalid_image"


def test_bad_base64_is_refused():
    assert refusal("data:image/png;base64,iVBO%%%").code == "invalid_image"
    assert refusal("data:image/png;base64,iVBORw0KGgo").code == "invalid_image"  # no padding
    error = refusal("data:image/png," + "%89PNG")  # a data URL, but not base64
    assert "base64" in str(error)


def test_an_image_over_the_limit_is_refused_before_decoding():
    error = refusal(data_url(png() + b"\0" * 2000), max_bytes=1000)
    assert error.code == "image_too_large"
    assert "1000-byte limit" in str(error)
    # counted on the base64's length: a huge text that is not even base64 is never decoded
    assert refusal("data:image/png;base64," + "!" * 4000, max_bytes=1000).code == (
        "image_too_large"
    )


def test_remote_and_missing_urls_are_refused_clearly():
    error = refusal("https://example.com/cat.png")
    assert error.code == "invalid_image" and "remote URLs are not fetched" in str(error)
    assert "data URL" in str(refusal("ftp://example.com/cat.png"))
    assert refusal(None).code == "invalid_image"
    assert refusal("").code == "invalid_image"
    assert refusal(42).code == "invalid_image"
    assert "data URL" in str(refusal("data:image/png;base64"))  # no comma


def test_image_parts_of_items_and_response_inputs():
    url = data_url(png())
    create = create_image(url, "What is this?")
    assert [p for p, _ in image_parts(create)] == ["item.content.1.image_url"]
    response = {"type": "response.create", "response": {"input": [create["item"]]}}
    assert [p for p, _ in image_parts(response)] == ["response.input.0.content.1.image_url"]
    for odd in (None, [], {"type": "conversation.item.create", "item": "x"}, {"type": "x"}):
        assert list(image_parts(odd)) == []


def test_an_item_without_its_image_data_keeps_its_parts():
    url = data_url(png())
    ev = {"type": "conversation.item.added", "item": create_image(url, "Look")["item"]}
    bare = without_image_data(ev)
    assert bare["item"]["content"] == [
        {"type": "input_text", "text": "Look"},
        {"type": "input_image", "detail": "auto"},
    ]
    assert ev["item"]["content"][1]["image_url"] == url  # the original is untouched
    plain = {"type": "conversation.item.added", "item": {"type": "function_call"}}
    assert without_image_data(plain) is plain
