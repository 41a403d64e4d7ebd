"""What one user turn produced, condensed for assertions: calls, outputs, handoffs, messages."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from voxgate.protocol import Event


@dataclass
class FunctionCallEvent:
    """The model called a function."""

    name: str
    call_id: str
    arguments: dict[str, Any] | str
    """Parsed JSON when the model sent valid JSON; the raw string otherwise."""


@dataclass
class FunctionCallOutputEvent:
    """A function call's output went back to the model."""

    call_id: str
    output: str
    name: str | None = None
    status: str | None = None
    """``ok``, ``error``, ``timeout`` or ``cancelled`` (from ``voxgate.tool.completed``)."""


@dataclass
class HandoffEvent:
    """The conversation moved to another agent."""

    from_agent: str
    to_agent: str


@dataclass
class MessageEvent:
    """A message in the conversation (the agent's reply, or a narration)."""

    role: str
    text: str


RunEvent = FunctionCallEvent | FunctionCallOutputEvent | HandoffEvent | MessageEvent


def condense(events: list[Event]) -> list[RunEvent]:
    """The run events in ``events``, in the order the session saw them."""
    names: dict[str, str] = {}
    statuses: dict[str, str] = {}
    for ev in events:
        if ev["type"] == "voxgate.tool.completed":
            statuses[ev["call_id"]] = ev["status"]
            names[ev["call_id"]] = ev["name"]
    out: list[RunEvent] = []
    for ev in events:
        type_ = ev["type"]
        if type_ == "response.function_call_arguments.done":
            names[ev["call_id"]] = ev["name"]
            try:
                arguments: dict[str, Any] | str = json.loads(ev["arguments"])
            except json.JSONDecodeError:
                arguments = ev["arguments"]
            out.append(FunctionCallEvent(ev["name"], ev["call_id"], arguments))
        elif type_ == "voxgate.handoff":
            out.append(HandoffEvent(ev["from"], ev["to"]))
        elif (
            type_ == "conversation.item.added" and ev["item"].get("type") == "function_call_output"
        ):
            item = ev["item"]
            out.append(
                FunctionCallOutputEvent(
                    item["call_id"],
                    item.get("output", ""),
                    names.get(item["call_id"]),
                    statuses.get(item["call_id"]),
                )
            )
        elif type_ == "conversation.item.done" and ev["item"].get("type") == "message":
            item = ev["item"]
            if item.get("role") == "user":
                continue  # the turn's own input
            text = " ".join(
                str(part.get("text") or part.get("transcript") or "")
                for part in item.get("content") or []
            ).strip()
            out.append(MessageEvent(item.get("role", ""), text))
    return out


@dataclass
class RunResult:
    """Everything one turn produced: ``events`` condensed, ``raw`` as the session sent them."""

    raw: list[Event]
    events: list[RunEvent] = field(init=False)
    expect: RunExpect = field(init=False, repr=False)
    """Walks the run events in order: ``result.expect.next_event().is_message(...)``."""

    def __post_init__(self) -> None:
        self.events = condense(self.raw)
        self.expect = RunExpect(self.events)


class RunExpect:
    """A cursor over a turn's run events."""

    def __init__(self, events: list[RunEvent]) -> None:
        self.events = events
        self.index = 0

    def next_event(self) -> EventAssert:
        """The next run event (the assertion fails when there is none)."""
        if self.index >= len(self.events):
            raise AssertionError(f"expected another event; the turn produced only {self._list()}")
        ev = self.events[self.index]
        self.index += 1
        return EventAssert(ev, self)

    def skip_next(self, count: int = 1) -> RunExpect:
        """Skip events the test does not care about."""
        self.index += count
        return self

    def no_more_events(self) -> None:
        """Nothing follows."""
        if self.index < len(self.events):
            raise AssertionError(f"unexpected events: {self.events[self.index :]}")

    def contains_function_call(self, name: str, arguments: dict[str, Any] | None = None) -> None:
        """Some event (anywhere in the turn) is this call."""
        self._contains(lambda a: a.is_function_call(name, arguments), f"a call of {name}")

    def contains_handoff(self, to: str) -> None:
        """Some event (anywhere in the turn) hands off to ``to``."""
        self._contains(lambda a: a.is_handoff(to=to), f"a handoff to {to}")

    def contains_message(self, text: str, role: str = "assistant") -> None:
        """Some message (anywhere in the turn) contains ``text``."""
        self._contains(lambda a: a.is_message(role).contains(text), f"a message with {text!r}")

    def _contains(self, check: Any, what: str) -> None:
        for ev in self.events:
            try:
                check(EventAssert(ev, self))
                return
            except AssertionError:
                continue
        raise AssertionError(f"expected {what}; the turn produced {self._list()}")

    def _list(self) -> str:
        return repr(self.events) if self.events else "no events"


class EventAssert:
    """Assertions on one run event; each returns ``self`` for chaining."""

    def __init__(self, event: RunEvent, expect: RunExpect) -> None:
        self.event = event
        self._expect = expect

    def is_function_call(
        self, name: str | None = None, arguments: dict[str, Any] | None = None
    ) -> EventAssert:
        """A call (of ``name``, with exactly ``arguments``)."""
        ev = self._of(FunctionCallEvent)
        if name is not None and ev.name != name:
            raise AssertionError(f"expected a call of {name}, got a call of {ev.name}")
        if arguments is not None and ev.arguments != arguments:
            raise AssertionError(f"expected {name or ev.name}({arguments}), got {ev.arguments}")
        return self

    def is_function_call_output(
        self, *, contains: str | None = None, status: str | None = None
    ) -> EventAssert:
        """A call's output (containing ``contains``, with this ``status``)."""
        ev = self._of(FunctionCallOutputEvent)
        if status is not None and ev.status != status:
            raise AssertionError(f"expected status {status}, got {ev.status}: {ev.output}")
        if contains is not None and contains.lower() not in ev.output.lower():
            raise AssertionError(f"expected the output to contain {contains!r}: {ev.output}")
        return self

    def is_handoff(self, *, to: str | None = None, from_: str | None = None) -> EventAssert:
        """A handoff (to ``to``, from ``from_``)."""
        ev = self._of(HandoffEvent)
        if to is not None and ev.to_agent != to:
            raise AssertionError(f"expected a handoff to {to}, got one to {ev.to_agent}")
        if from_ is not None and ev.from_agent != from_:
            raise AssertionError(f"expected a handoff from {from_}, got one from {ev.from_agent}")
        return self

    def is_message(self, role: str = "assistant") -> EventAssert:
        """A message from ``role``."""
        ev = self._of(MessageEvent)
        if ev.role != role:
            raise AssertionError(f"expected a {role} message, got a {ev.role} one: {ev.text!r}")
        return self

    def contains(self, text: str) -> EventAssert:
        """The message's text contains ``text`` (case-insensitive)."""
        ev = self._of(MessageEvent)
        if text.lower() not in ev.text.lower():
            raise AssertionError(f"expected a message containing {text!r}, got {ev.text!r}")
        return self

    def _of(self, kind: type[Any]) -> Any:
        if not isinstance(self.event, kind):
            raise AssertionError(f"expected a {kind.__name__}, got {self.event}")
        return self.event
