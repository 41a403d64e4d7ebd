import pytest

from voxgate.components.llm.repeat import asks_slower, asks_to_repeat, last_reply


@pytest.mark.parametrize(
    "request_",
    [
        "Could you repeat that more slowly?",
        "Can you say that again, please?",
        "Sorry, I didn't catch that.",
        "Pardon?",
        "Come again?",
        "What did you just say?",
        "Repeat, please.",
        "Please repeat the last part.",
        "Sorry, what?",
        "One more time, please.",
    ],
)
def test_a_request_to_hear_it_again_is_one(request_):
    assert asks_to_repeat(request_)


@pytest.mark.parametrize(
    "request_",
    [
        "Can you repeat my booking details?",
        "I didn't get my bags.",
        "What time is it?",
        "Say hello to my wife.",
        "Again, I want seat 14C.",
        "Thank you, that's all.",
    ],
)
def test_a_request_for_something_else_is_not(request_):
    assert not asks_to_repeat(request_)


def test_slower_is_asked_in_so_many_words():
    assert asks_slower("Could you repeat that more slowly?")
    assert asks_slower("You're talking too fast.")
    assert not asks_slower("Could you repeat that?")


def test_the_last_reply_is_the_last_words_said_before_the_request():
    messages = [
        {"role": "user", "content": "Can I bring my dog?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c"}]},
        {"role": "tool", "tool_call_id": "c", "content": "{}"},
        {"role": "assistant", "content": "Small dogs may travel in the cabin."},
        {"role": "user", "content": "Say that again?"},
    ]
    assert last_reply(messages) == "Small dogs may travel in the cabin."
    unanswered = [{"role": "user", "content": "Hi"}, {"role": "user", "content": "Pardon?"}]
    assert last_reply(unanswered) is None
    assert last_reply([{"role": "user", "content": "Pardon?"}]) is None
