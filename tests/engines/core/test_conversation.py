import pytest

from voxgate.engines.core.conversation import Conversation
from voxgate.protocol import ProtocolError


def added(item_id, previous=None):
    item = {"id": item_id, "type": "message", "role": "user", "content": []}
    return {"type": "conversation.item.added", "previous_item_id": previous, "item": item}


def test_items_go_after_their_previous_item_or_first_for_root():
    conv = Conversation()
    conv.observe(added("a"))
    conv.observe(added("b"))
    conv.observe(added("c", "a"))
    conv.observe(added("d", "root"))
    conv.observe(added("e", "unknown"))
    assert [it["id"] for it in conv.items] == ["d", "a", "c", "b", "e"]
    assert conv.previous_id("c") == "a" and conv.previous_id("d") is None
    conv.observe({"type": "conversation.item.deleted", "item_id": "c"})
    assert conv.previous_id("b") == "a" and conv.last_id == "e"


def test_a_done_item_replaces_the_added_one():
    conv = Conversation()
    conv.observe(added("a"))
    done = {**added("a"), "type": "conversation.item.done"}
    done["item"] = {**done["item"], "content": [{"type": "input_text", "text": "hi"}]}
    conv.observe(done)
    assert conv.items == [done["item"]]


def test_a_create_is_checked_against_the_conversation():
    conv = Conversation()
    conv.observe(added("a"))
    item = conv.check_create({"item": {"type": "function_call", "name": "f"}})
    assert item["call_id"] and item["arguments"] == "{}" and item["status"] == "completed"
    with pytest.raises(ProtocolError) as refused:
        conv.check_create({"item": {"type": "message", "id": "a"}})
    assert refused.value.code == "item_exists"
    with pytest.raises(ProtocolError) as refused:
        conv.check_truncate({"item_id": "a"})
    assert refused.value.code == "invalid_item"


def test_the_newest_images_are_kept_whole_up_to_the_bound(monkeypatch):
    from voxgate.engines.core import conversation

    monkeypatch.setattr(conversation, "KEPT_IMAGE_CHARS", 50)  # two of these 23-character URLs
    conv, told = Conversation(), []
    for n in range(3):
        part = {"type": "input_image", "image_url": f"data:image/png;base64,{n}", "detail": "low"}
        item = {"id": f"i{n}", "type": "message", "role": "user", "content": [part]}
        told.append({"type": "conversation.item.added", "previous_item_id": None, "item": item})
        conv.observe(told[-1])
    assert [it["content"][0].get("image_url") for it in conv.items] == [
        None,
        "data:image/png;base64,1",
        "data:image/png;base64,2",
    ]
    assert conv.items[0]["content"][0] == {"type": "input_image", "detail": "low"}
    assert told[0]["item"]["content"][0]["image_url"]  # what clients were told is untouched
