"""``voxgate bench tools``: how often the embedded LLM picks the right tool for typed requests.

Each case is one typed user turn to one agent of the demo graph, its tools declared with
``session.update``, run in-process on the local engine with the real models. A case passes
when the response calls the expected tool with the expected arguments (or, for chit-chat,
calls none). Decision time is the engine's ``llm_first_token_ms``: from the response's start
to its first text piece or its tool call (arguments included); routing time is the routing
step's choice of an option alone (the embedding of the request, or the channel scores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from dataclasses import dataclass, field
from typing import Any

from voxgate.components.llm import Tool
from voxgate.engines.local import LocalEngine, LocalModels, SessionConfig, load_models
from voxgate.settings import Settings


@dataclass(frozen=True)
class Agent:
    """An agent as the engine sees it: instructions and tools."""

    instructions: str
    tools: list[Tool]


def demo_agents() -> dict[str, Agent]:
    """The shipped demo graph (``voxgate.agents.demo``), as an engine sees each agent."""
    from voxgate.agents.demo import build

    return {
        agent.name: Agent(agent.instructions, agent.session_config()["tools"])
        for agent in build().graph()
    }


@dataclass(frozen=True)
class Case:
    """A request, the tool it should call (``None``: just reply) and argument checks.

    Each argument check is a lower-case piece the argument must contain.
    """

    agent: str
    request: str
    tool: str | None
    arguments: dict[str, str] = field(default_factory=dict)


CASES = [
    Case(
        "triage_agent", "What's the weather like in Paris today?", "get_weather", {"city": "paris"}
    ),
    Case("triage_agent", "Is it raining in London right now?", "get_weather", {"city": "london"}),
    Case("triage_agent", "How hot is it in Tokyo?", "get_weather", {"city": "tokyo"}),
    Case("triage_agent", "Tell me the weather in New York.", "get_weather", {"city": "new york"}),
    Case(
        "triage_agent",
        "Will I need an umbrella in Seattle today?",
        "get_weather",
        {"city": "seattle"},
    ),
    Case("triage_agent", "How much baggage can I bring?", "transfer_to_faq_agent"),
    Case("triage_agent", "Do you have wifi on the plane?", "transfer_to_faq_agent"),
    Case("triage_agent", "Can I bring my dog on the flight?", "transfer_to_faq_agent"),
    Case("triage_agent", "What food do you serve on board?", "transfer_to_faq_agent"),
    Case("triage_agent", "When does check-in open?", "transfer_to_faq_agent"),
    Case("triage_agent", "I want to change my seat.", "transfer_to_seat_booking_agent"),
    Case("triage_agent", "Can I move to a window seat?", "transfer_to_seat_booking_agent"),
    Case(
        "triage_agent", "Please switch my seat to an aisle seat.", "transfer_to_seat_booking_agent"
    ),
    Case("triage_agent", "Hello, how are you?", None),
    Case("triage_agent", "Thank you, goodbye!", None),
    Case("triage_agent", "Who are you?", None),
    Case("faq_agent", "How many bags can I check in?", "faq_lookup_tool", {"question": "bag"}),
    Case("faq_agent", "Is there wifi on board?", "faq_lookup_tool", {"question": "wifi"}),
    Case("faq_agent", "What is the carry-on size limit?", "faq_lookup_tool", {"question": "carry"}),
    Case("faq_agent", "Can I travel with my cat?", "faq_lookup_tool", {"question": "cat"}),
    Case(
        "faq_agent",
        "What kind of aircraft do you fly?",
        "faq_lookup_tool",
        {"question": "aircraft"},
    ),
    Case("faq_agent", "Is food included in my ticket?", "faq_lookup_tool", {"question": "food"}),
    Case("faq_agent", "How early should I check in?", "faq_lookup_tool", {"question": "check"}),
    Case("faq_agent", "What is the weather in Rome?", "transfer_to_triage_agent"),
    Case("faq_agent", "I need to change my seat.", "transfer_to_triage_agent"),
    Case("faq_agent", "Thanks, that helps.", None),
    Case(
        "seat_booking_agent",
        "My confirmation number is ABC123 and I want seat 14C.",
        "update_seat",
        {"confirmation_number": "abc123", "new_seat": "14c"},
    ),
    Case(
        "seat_booking_agent",
        "Please move booking XYZ789 to seat 2A.",
        "update_seat",
        {"confirmation_number": "xyz789", "new_seat": "2a"},
    ),
    Case(
        "seat_booking_agent",
        "Change the seat for confirmation QW5T7Z to 22F.",
        "update_seat",
        {"confirmation_number": "qw5t7z", "new_seat": "22f"},
    ),
    Case(
        "seat_booking_agent",
        "Confirmation number LMN456, new seat 7B please.",
        "update_seat",
        {"confirmation_number": "lmn456", "new_seat": "7b"},
    ),
    Case("seat_booking_agent", "What's the weather in Berlin?", "transfer_to_triage_agent"),
    Case("seat_booking_agent", "How much baggage is allowed?", "transfer_to_triage_agent"),
    Case("seat_booking_agent", "I'd like to change my seat.", None),
    Case("seat_booking_agent", "Hi there.", None),
]


@dataclass
class Outcome:
    """What the engine did with one case."""

    tool: str | None
    arguments: dict[str, Any]
    decision_ms: float
    first_audio_ms: float | None = None
    route_ms: float | None = None

    def passes(self, case: Case) -> tuple[bool, bool]:
        """(the right tool or none, and the arguments hold what they should)."""
        right_tool = self.tool == case.tool
        right_args = all(
            want in str(self.arguments.get(key, "")).lower() for key, want in case.arguments.items()
        )
        return right_tool, right_tool and right_args


async def run_case(
    models: LocalModels, settings: Settings, case: Case, *, audio: bool = False, tools: bool = True
) -> Outcome:
    """One fresh session: declare the agent, type the request, see what the response does.

    The response is cancelled as soon as it has decided (first text, or first audio).
    """
    agent = demo_agents()[case.agent]
    engine = LocalEngine(models, SessionConfig.from_settings(settings))
    events = engine.events()
    try:
        await engine.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "instructions": agent.instructions,
                    "tools": agent.tools if tools else [],
                    "tool_choice": "auto",
                    "output_modalities": ["audio" if audio else "text"],
                    "audio": {"input": {"turn_detection": None}},
                },
            }
        )
        await engine.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": case.request}],
                },
            }
        )
        await engine.send({"type": "response.create"})
        tool: str | None = None
        arguments: dict[str, Any] = {}
        replying = False
        async for ev in events:
            if ev["type"] == "error":
                raise RuntimeError(ev["error"]["message"])
            decided = ev["type"] in ("response.output_text.delta", "response.output_audio.delta")
            if decided and not replying:
                replying = True  # decided: words, not a tool; the rest is not needed
                await engine.send({"type": "response.cancel"})
            elif ev["type"] == "response.function_call_arguments.done":
                tool, arguments = ev["name"], json.loads(ev["arguments"])
            elif ev["type"] == "voxgate.metrics":
                metrics = ev["metrics"]
                return Outcome(
                    tool,
                    arguments,
                    metrics.get("llm_first_token_ms", 0.0),
                    metrics.get("first_audio_ms"),
                    getattr(models.llm, "last_decision_ms", None),
                )
        raise RuntimeError("the engine closed before the response ended")
    finally:
        await engine.close()


async def _run(settings: Settings, cases: list[Case]) -> dict[str, Any]:
    models = load_models(settings)
    await run_case(models, settings, Case("triage_agent", "Hello.", None))  # warm-up
    tool_hits = hits = 0
    decisions: list[float] = []
    routes: list[float] = []
    for case in cases:
        outcome = await run_case(models, settings, case)
        right_tool, right = outcome.passes(case)
        tool_hits += right_tool
        hits += right
        decisions.append(outcome.decision_ms)
        if outcome.route_ms is not None:
            routes.append(outcome.route_ms)
        got = outcome.tool or "(reply)"
        if outcome.arguments:
            got += " " + json.dumps(outcome.arguments)
        print(
            f"{'ok  ' if right else 'MISS'} {outcome.decision_ms:6.0f} ms  {case.agent:<18} "
            f"{case.request!r:<58} want {case.tool or '(reply)'}  got {got}",
            flush=True,
        )
    with_tools, without = await _first_audio(models, settings, [c for c in cases if not c.tool])
    return {
        "cases": len(cases),
        "accuracy": round(hits / len(cases), 3),
        "tool_choice_accuracy": round(tool_hits / len(cases), 3),
        "decision_ms_mean": round(statistics.fmean(decisions), 1),
        "decision_ms_p50": round(statistics.median(decisions), 1),
        "route_ms_p50": round(statistics.median(routes), 1) if routes else None,
        "route_ms_max": round(max(routes), 1) if routes else None,
        "reply_first_audio_ms_with_tools": with_tools,
        "reply_first_audio_ms_without_tools": without,
    }


async def _first_audio(
    models: LocalModels, settings: Settings, cases: list[Case]
) -> tuple[float, float]:
    """Mean time from response start to first audio of spoken replies, with and without tools.

    Interleaved, case by case, so both see the same machine load.
    """
    times: dict[bool, list[float]] = {True: [], False: []}
    for case in cases:
        for tools in (True, False):
            outcome = await run_case(models, settings, case, audio=True, tools=tools)
            if outcome.first_audio_ms is not None:
                times[tools].append(outcome.first_audio_ms)
    return (
        round(statistics.fmean(times[True]), 1) if times[True] else float("nan"),
        round(statistics.fmean(times[False]), 1) if times[False] else float("nan"),
    )


def main(args: argparse.Namespace) -> int:
    """Print a line per case, then one JSON line of figures."""
    cases = [c for c in CASES if not args.agent or c.agent == args.agent]
    print(json.dumps(asyncio.run(_run(Settings(), cases))))
    return 0
