"""End to end: a long spoken conversation with the demo agents over a real socket.

Routing follows the agent graph (a request reaches its agent through handoffs, in the same
turn), tools get only arguments the user gave, and nothing but words for the user is spoken.
"""

import asyncio
import json
import time
import uuid

import pytest

from tests.conftest import silence
from voxgate.client import VoiceClient, cut_by_next_words, spoken_reply_done
from voxgate.components.llm.guard import scaffolding

pytestmark = pytest.mark.e2e

TOOLS = ["get_weather", "faq_lookup_tool", "update_seat"]


async def listen_out(client):
    """A caller lets the agent finish speaking (its audio arrives ahead of real time)."""
    played_until = 0.0
    for arrived, size in client.received.audio:
        played_until = max(played_until, arrived) + size / 2 / 24000
    await asyncio.sleep(max(0.0, played_until - time.monotonic()) + 0.3)


def _brief(ev: dict) -> str:
    """An event in a few words, for a failure's message."""
    said = ev.get("transcript") or ev.get("delta") if "transcript" in ev["type"] else None
    status = (
        ev["response"]["status"]
        if ev["type"].startswith("response.") and "response" in ev
        else None
    )
    return " ".join(str(x) for x in (ev["type"], said, status, ev.get("name")) if x)


async def turn(client, speech, text):
    """Say ``text``; what came back: (calls, handoffs, spoken transcripts)."""
    await listen_out(client)
    mark = len(client.received.events)
    earlier = {  # a response of the turn before, still going, is cut by this one: not its reply
        ev["response"]["id"] for _, ev in client.received.events if ev["type"] == "response.created"
    }
    await client.stream(silence(400) + speech(text) + silence(1200))
    try:
        await client.wait_for(
            lambda ev: (
                spoken_reply_done(ev)
                and ev["response"]["id"] not in earlier
                and not cut_by_next_words(ev)
            ),
            after=mark,
            timeout=60,
        )
    except TimeoutError:
        heard = [_brief(ev) for _, ev in client.received.events[mark:]]
        raise AssertionError(f"no reply to {text!r} in 60 s; the server sent {heard}") from None
    await asyncio.sleep(0.3)  # the response's last events
    events = [ev for _, ev in client.received.events[mark:]]
    done = [
        (ev["response"]["status"], ev["response"].get("status_details"))
        for ev in events
        if ev["type"] == "response.done"
    ]
    calls = [
        (ev["name"], json.loads(ev["arguments"]))
        for ev in events
        if ev["type"] == "response.function_call_arguments.done"
    ]
    handoffs = [(ev["from"], ev["to"]) for ev in events if ev["type"] == "voxgate.handoff"]
    spoken = [
        ev["transcript"] for ev in events if ev["type"] == "response.output_audio_transcript.done"
    ]
    for said in spoken:
        names = TOOLS + [f"transfer_to_{a}" for a in ("triage", "faq", "seat_booking")]
        assert scaffolding(said, names) is None, said
    assert "".join(spoken).strip(), f"nothing was said to {text!r}: {done}"
    return [name for name, _ in calls], calls, handoffs, " ".join(spoken)


async def test_a_spoken_conversation_follows_the_graph_and_speaks_only_words(server_url, speech):
    async with VoiceClient(f"{server_url}/ws/{uuid.uuid4().hex}") as client:
        names, _, handoffs, said = await turn(client, speech, "How many bags can I check?")
        assert names == ["transfer_to_faq_agent", "faq_lookup_tool"]
        assert handoffs == [("triage_agent", "faq_agent")]
        assert "two bags" in said

        # another agent's tool, in the same turn: back to triage, then its weather tool
        names, calls, handoffs, said = await turn(
            client, speech, "What is the weather like in London?"
        )
        assert names == ["transfer_to_triage_agent", "get_weather"]
        assert "london" in calls[-1][1]["city"].lower()
        assert handoffs == [("faq_agent", "triage_agent")]
        assert "London" in said

        # the seat agent is reached, and asks rather than inventing a booking (tiny.en hears
        # Piper's "my seat" as "my C" when the clip ends there: not "I would like to change my
        # seat.", and not "..., please.", whose comma ends a turn on some machines)
        names, _, handoffs, said = await turn(
            client, speech, "Can I change my seat for this flight?"
        )
        assert names == ["transfer_to_seat_booking_agent"]
        assert handoffs == [("triage_agent", "seat_booking_agent")]
        assert "confirmation number" in said.lower()

        names, calls, _, said = await turn(
            client, speech, "My confirmation number is ABC123 and I want seat 14C."
        )
        assert names == ["update_seat"]
        heard = {k: v.replace(" ", "").upper() for k, v in calls[0][1].items()}
        assert heard == {"confirmation_number": "ABC123", "new_seat": "14C"}  # as transcribed
        assert "14C" in said

        # from the seat agent: the FAQ is two handoffs away, reached in this turn
        # (tiny.en hears Piper's "wifi" as "why fight" as often as not: a word it knows)
        names, _, handoffs, said = await turn(client, speech, "Can I bring my dog on the plane?")
        assert names == ["transfer_to_triage_agent", "transfer_to_faq_agent", "faq_lookup_tool"]
        assert handoffs == [
            ("seat_booking_agent", "triage_agent"),
            ("triage_agent", "faq_agent"),
        ]
        assert "dogs" in said.lower()

        # small talk is answered in words, by whichever agent is in charge
        names, _, handoffs, _ = await turn(client, speech, "Thank you, that's all.")
        assert names == [] and handoffs == []
