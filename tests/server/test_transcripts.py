"""What a direct call's listener writes into its transcript."""

from __future__ import annotations

from voxgate.server.transcripts import TranscriptEntry, Transcripts, transcript_entry


def test_turns_come_from_transcriptions_transcripts_and_typed_messages():
    heard = transcript_entry(
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": "item_1",
            "transcript": " What is the weather in Paris? ",
        }
    )
    assert heard == TranscriptEntry("user", "What is the weather in Paris?", "item_1")
    spoken = transcript_entry(
        {"type": "response.output_audio_transcript.done", "item_id": "item_2", "transcript": "Hi"}
    )
    assert spoken == TranscriptEntry("assistant", "Hi", "item_2")
    written = transcript_entry(
        {"type": "response.output_text.done", "item_id": "item_3", "text": "Hello"}
    )
    assert written == TranscriptEntry("assistant", "Hello", "item_3")
    typed = transcript_entry(
        {
            "type": "conversation.item.done",
            "item": {
                "id": "item_4",
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Say hello."}],
            },
        }
    )
    assert typed == TranscriptEntry("user", "Say hello.", "item_4")
    for ignored in (
        {"type": "conversation.item.input_audio_transcription.completed", "transcript": "  "},
        {"type": "conversation.item.done", "item": {"type": "function_call", "id": "x"}},
        {"type": "conversation.item.done", "item": {"type": "message", "role": "assistant"}},
        {"type": "response.done", "response": {}},
    ):
        assert transcript_entry(ignored) is None


def test_transcripts_replace_by_item_and_keep_the_newest_calls():
    store = Transcripts(max_calls=2)
    store.add("a", TranscriptEntry("user", "hello", "item_1"))
    store.add("a", TranscriptEntry("assistant", "hi", "item_2"))
    store.add("a", TranscriptEntry("user", "hello there", "item_1", source="client"))
    assert [(e.text, e.source) for e in store.get("a") or []] == [
        ("hello there", "client"),
        ("hi", "sideband"),
    ]
    store.add("b", TranscriptEntry("user", "one"))
    store.add("c", TranscriptEntry("user", "two"))
    assert store.get("a") is None  # the oldest call went first
    assert store.get("b") and store.get("c")
