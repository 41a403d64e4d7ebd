"""The response scheduler's states and transitions, driven by events alone."""

import pytest

from voxgate.agents.scheduling import BUSY, Floor, Pending, ResponseScheduler
from voxgate.protocol import event


def created(response_id="resp_1"):
    return event("response.created", response={"id": response_id})


def done(response_id="resp_1"):
    return event("response.done", response={"id": response_id, "status": "completed"})


SPEECH_STARTED = event("input_audio_buffer.speech_started")
SPEECH_STOPPED = event("input_audio_buffer.speech_stopped")


@pytest.mark.parametrize(
    ("start", "transition", "end"),
    [
        (Floor.FREE, "speech_started", Floor.USER),
        (Floor.MODEL, "speech_started", Floor.BOTH),
        (Floor.USER, "speech_started", Floor.USER),
        (Floor.USER, "speech_stopped", Floor.FREE),
        (Floor.BOTH, "speech_stopped", Floor.MODEL),
        (Floor.FREE, "speech_stopped", Floor.FREE),
        (Floor.FREE, "response_started", Floor.MODEL),
        (Floor.USER, "response_started", Floor.BOTH),
        (Floor.MODEL, "response_ended", Floor.FREE),
        (Floor.BOTH, "response_ended", Floor.USER),
        (Floor.FREE, "response_ended", Floor.FREE),
    ],
)
def test_floor_transitions(start, transition, end):
    assert getattr(start, transition)() is end


@pytest.mark.parametrize(
    ("start", "transition", "end"),
    [
        (Pending.NONE, Pending.owe, Pending.OWED),
        (Pending.OWED, Pending.owe, Pending.OWED),
        (Pending.REQUESTED, Pending.owe, Pending.REQUESTED_AGAIN),
        (Pending.CLOSED, Pending.owe, Pending.CLOSED),
        (Pending.OWED, Pending.requested, Pending.REQUESTED),
        (Pending.NONE, Pending.requested, Pending.NONE),
        (Pending.REQUESTED, Pending.started, Pending.NONE),
        (Pending.REQUESTED_AGAIN, Pending.started, Pending.OWED),
        (Pending.OWED, Pending.started, Pending.OWED),
        (Pending.NONE, Pending.started, Pending.NONE),
    ],
)
def test_pending_transitions(start, transition, end):
    assert transition(start) is end


@pytest.mark.parametrize(
    ("start", "busy", "end"),
    [
        (Pending.REQUESTED, True, Pending.OWED),
        (Pending.REQUESTED, False, Pending.NONE),
        (Pending.REQUESTED_AGAIN, False, Pending.OWED),
        (Pending.NONE, True, Pending.OWED),  # the response that started was another's
        (Pending.NONE, False, Pending.NONE),
        (Pending.CLOSED, True, Pending.CLOSED),
    ],
)
def test_a_refused_request_is_owed_again_only_when_the_model_was_busy(start, busy, end):
    assert start.refused(busy=busy) is end


def test_owed_response_waits_for_the_user_and_the_running_response():
    s = ResponseScheduler()
    assert s.request() is None  # nothing owed
    s.observe(SPEECH_STARTED)
    s.observe(created())
    s.owe()
    assert (s.floor, s.pending, s.response_id) == (Floor.BOTH, Pending.OWED, "resp_1")
    assert s.request() is None and not s.may_respond
    s.observe(done())
    assert s.floor is Floor.USER and s.request() is None  # the user still speaks
    s.observe(SPEECH_STOPPED)
    assert s.may_respond
    request = s.request()
    assert request is not None and request["type"] == "response.create"
    assert request["event_id"].startswith("event_")
    assert s.pending is Pending.REQUESTED and not s.may_respond and not s.settled
    assert s.request() is None  # one request at a time
    s.observe(created("resp_2"))
    assert s.pending is Pending.NONE and s.floor is Floor.MODEL
    s.observe(done("resp_1"))  # not the running response
    assert s.response_id == "resp_2" and not s.settled
    s.observe(done("resp_2"))
    assert s.settled and s.floor is Floor.FREE


def test_busy_refusal_retries_once_the_floor_is_free_and_other_errors_give_up():
    s = ResponseScheduler()
    s.owe()
    first = s.request()
    s.observe(event("error", error={"type": "invalid_request_error", "code": BUSY}))
    assert s.pending is Pending.REQUESTED  # an error about another event changes nothing
    s.observe(created("resp_client"))  # taken for ours until the refusal comes
    assert s.pending is Pending.NONE
    s.observe(
        event(
            "error",
            error={"type": "invalid_request_error", "code": BUSY, "event_id": first["event_id"]},
        )
    )
    assert s.pending is Pending.OWED and s.request() is None  # the client's response runs
    s.observe(done("resp_client"))
    second = s.request()
    assert second is not None and second["event_id"] != first["event_id"]
    s.observe(
        event(
            "error",
            error={"type": "server_error", "code": "rate_limited", "event_id": second["event_id"]},
        )
    )
    assert s.pending is Pending.NONE and s.settled


def test_closed_asks_for_nothing():
    s = ResponseScheduler()
    s.owe()
    s.close()
    s.owe()
    assert s.request() is None and s.settled and not s.may_respond
