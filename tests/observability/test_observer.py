"""``Observers``: every call reaches every observer, even past one that fails."""

from voxgate.observability import Observers, SessionObserver, ToolTiming, TurnMetrics, TurnTrace


class Named:
    id = "sess_1"


class Failing(SessionObserver):
    def response(self, session, metrics):
        raise RuntimeError("broken observer")

    def error(self, session, code):
        raise RuntimeError("broken observer")


class Keeping(SessionObserver):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def session_opened(self, session):
        self.calls.append("opened")

    def joined(self, session, participant):
        self.calls.append("joined")

    def left(self, session, participant):
        self.calls.append("left")

    def response(self, session, metrics):
        self.calls.append(f"response {metrics.response_id}")

    def tool(self, session, call):
        self.calls.append(f"tool {call.name}")

    def error(self, session, code):
        self.calls.append(f"error {code}")

    def turn(self, session, trace):
        self.calls.append(f"turn {trace.item_id}")

    def session_closed(self, session):
        self.calls.append("closed")


def test_every_call_reaches_every_observer_past_a_failing_one(caplog):
    keeping = Keeping()
    both = Observers([Failing(), keeping])
    session, client = Named(), object()
    both.session_opened(session)
    both.joined(session, client)  # type: ignore[arg-type]
    both.response(session, TurnMetrics("sess_1", "resp_1"))
    both.tool(session, ToolTiming("get_weather", "call_1", "ok", 1.0, 2.0))
    both.error(session, "invalid_event")
    both.turn(session, TurnTrace("sess_1", "item_1", started_at=1.0))
    both.left(session, client)  # type: ignore[arg-type]
    both.session_closed(session)
    assert keeping.calls == [
        "opened",
        "joined",
        "response resp_1",
        "tool get_weather",
        "error invalid_event",
        "turn item_1",
        "left",
        "closed",
    ]
    assert caplog.text.count("an observer failed") == 2
