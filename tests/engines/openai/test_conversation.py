from __future__ import annotations

from openai.types.realtime import ConversationItemCreateEvent

from voxgate.engines.openai.conversation import Conversation


def added(item, previous=None):
    return {"type": "conversation.item.added", "previous_item_id": previous, "item": item}


def test_replay_rebuilds_the_conversation_as_text_under_the_same_ids():
    conv = Conversation()
    user = {
        "id": "item_u",
        "type": "message",
        "role": "user",
        "content": [{"type": "input_audio", "transcript": None}],
    }
    conv.observe(added(user))
    conv.observe(
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": "item_u",
            "content_index": 0,
            "transcript": "What time is it?",
        }
    )
    answer = {
        "id": "item_a",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_audio", "transcript": "Noon."}],
    }
    conv.observe(added(answer, "item_u"))
    call = {
        "id": "item_c",
        "type": "function_call",
        "status": "completed",
        "call_id": "call_1",
        "name": "clock",
        "arguments": "{}",
    }
    conv.observe(added(call, "item_a"))
    conv.observe(
        added(
            {"id": "item_o", "type": "function_call_output", "call_id": "call_1", "output": "12"},
            "item_c",
        )
    )
    conv.observe(added({"id": "item_x", "type": "message", "role": "user", "content": []}))
    conv.observe({"type": "conversation.item.deleted", "item_id": "item_x"})
    replay = conv.replay()
    for ev in replay:
        ConversationItemCreateEvent.model_validate(ev)
    assert [ev["item"]["id"] for ev in replay] == ["item_u", "item_a", "item_c", "item_o"]
    assert [ev["previous_item_id"] for ev in replay] == ["root", "item_u", "item_a", "item_c"]
    assert replay[0]["item"]["content"] == [{"type": "input_text", "text": "What time is it?"}]
    assert replay[1]["item"]["content"] == [{"type": "output_text", "text": "Noon."}]


def test_an_item_inserted_after_another_keeps_its_place():
    conv = Conversation()
    for item_id in ("a", "c"):
        conv.observe(
            added(
                {
                    "id": item_id,
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": item_id}],
                }
            )
        )
    conv.observe(
        added(
            {
                "id": "b",
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "b"}],
            },
            "a",
        )
    )
    assert [it["id"] for it in conv.items] == ["a", "b", "c"]


def test_replay_sends_a_users_images_again_when_it_has_them():
    conv = Conversation()
    part = {
        "type": "input_image",
        "image_url": "data:image/png;base64,iVBORw0KGgo=",
        "detail": "low",
    }
    conv.observe(added({"id": "i1", "type": "message", "role": "user", "content": [part]}))
    bare = [{"type": "input_text", "text": "Look"}, {"type": "input_image", "detail": "auto"}]
    conv.observe(added({"id": "i2", "type": "message", "role": "user", "content": bare}, "i1"))
    conv.observe(added({"id": "i3", "type": "message", "role": "user", "content": bare[1:]}, "i2"))
    replay = conv.replay()
    for ev in replay:
        ConversationItemCreateEvent.model_validate(ev)
    assert [ev["item"]["content"] for ev in replay] == [
        [part],
        [{"type": "input_text", "text": "Look"}],  # an echo without the image: its words only
    ]
