"""Items as a chat model reads them: images are not words, and an unanswered one is noticed."""

from __future__ import annotations

from tests.images import data_url, image_message, png
from voxgate.engines.core.chat import chat_messages, item_text, unseen_image

URL = data_url(png())
IMAGE = {"id": "i1", **image_message(URL, "What is this?")}
REPLY = {
    "id": "a1",
    "type": "message",
    "role": "assistant",
    "content": [{"type": "output_text", "text": "A red square."}],
}
CALL = {"id": "c1", "type": "function_call", "call_id": "call_1", "name": "look"}
SAID = {
    "id": "u2",
    "type": "message",
    "role": "user",
    "content": [{"type": "input_audio", "transcript": "Well?"}],
}


def test_an_image_part_is_not_text():
    assert item_text(IMAGE) == "What is this?"
    assert item_text({"id": "i2", **image_message(URL)}) == ""
    messages = chat_messages("Be brief.", [IMAGE, {"id": "i2", **image_message(URL)}])
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is this?"},
    ]
    assert "base64" not in repr(messages)


def test_an_image_is_unseen_until_the_conversation_answers_it():
    assert not unseen_image([])
    assert unseen_image([IMAGE])
    assert unseen_image([IMAGE, SAID])  # spoken after it, before any answer
    assert not unseen_image([IMAGE, REPLY])
    assert not unseen_image([IMAGE, CALL])
    assert not unseen_image([IMAGE, REPLY, SAID])
    system = {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "x"}]}
    assert unseen_image([IMAGE, system])
