"""``Agent``: instructions, tools and the agents it may hand the conversation to."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from voxgate.agents.runs.tools import DelegationTool, run_control_tools
from voxgate.agents.tool import Tool, function_tool
from voxgate.components.llm.routing import with_examples

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_HANDOFF_EXAMPLES = 24
"""Example requests a handoff carries, nearest agents' first."""


@dataclass(eq=False)
class Agent:
    """One persona of a voice session.

    Its ``instructions``, ``tools`` and ``voice`` become the session's with a ``session.update``
    when it takes over; each agent in ``handoffs`` adds a ``transfer_to_<name>`` tool. Agents
    that hand off to each other are built first and linked after:
    ``faq_agent.handoffs.append(triage_agent)``.
    """

    name: str
    instructions: str
    tools: list[Tool | Callable[..., Any]] = field(default_factory=list)
    handoffs: list[Agent | Handoff] = field(default_factory=list)
    voice: str | None = None
    """The engine's voice for this agent; None keeps the session's."""
    handoff_description: str = ""
    """What this agent does: the ``transfer_to_<name>`` tools pointing here say it."""
    vocabulary: str | None = None
    """Words callers use, the speech recognizer's prompt (GA ``audio.input.transcription
    .prompt``): names, spellings. None: the agent that handed over's, else no prompt."""

    _resolved_from: tuple[object, ...] = field(default=(), init=False, repr=False)
    _by_name: dict[str, Tool] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(
                f"agent name {self.name!r}: use 1-64 letters, digits, '_' or '-' "
                "(it becomes part of a tool name)"
            )
        self.tools = list(self.tools)
        self.handoffs = list(self.handoffs)
        self.all_tools()

    def all_tools(self) -> list[Tool]:
        """The agent's tools, then its handoffs, then run controls if it delegates.

        Resolved once, and again only after ``tools`` or ``handoffs`` changed (agents that
        hand off to each other are linked after they are built).
        """
        return list(self._tools().values())

    def tool(self, name: str) -> Tool | None:
        """The agent's tool called ``name``, if it has one."""
        return self._tools().get(name)

    def _tools(self) -> dict[str, Tool]:
        if self._resolved_from != (*self.tools, None, *self.handoffs):
            self.tools = [t if isinstance(t, Tool) else function_tool(t) for t in self.tools]
            self._by_name = {t.name: t for t in self._resolve()}
            self._resolved_from = (*self.tools, None, *self.handoffs)
        return self._by_name

    def _resolve(self) -> list[Tool]:
        tools: list[Tool] = [*self.tools]  # type: ignore[list-item]
        tools += [h if isinstance(h, Handoff) else handoff(h) for h in self.handoffs]
        if any(isinstance(t, DelegationTool) for t in tools):
            own = {t.name for t in tools}
            tools += [t for t in run_control_tools() if t.name not in own]
        names = [t.name for t in tools]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"agent {self.name!r} has several tools named {duplicates}")
        return tools

    def session_config(self) -> dict[str, Any]:
        """The GA ``session`` fields this agent sets: instructions, tools, voice.

        A handoff's description carries the example requests of what lies behind it, so a
        request finds its way across the graph ("change my seat" from the FAQ agent goes back
        to triage, which hands it on).
        """
        tools = []
        for tool in self.all_tools():
            definition = tool.definition()
            if isinstance(tool, Handoff) and not tool.examples:
                examples = self.examples_through(tool.target)
                definition["description"] = with_examples(tool.description, examples)
            tools.append(definition)
        config: dict[str, Any] = {
            "type": "realtime",
            "instructions": self.instructions,
            "tools": tools,
            "tool_choice": "auto",
        }
        if self.voice is not None:
            config["audio"] = {"output": {"voice": self.voice}}
        return config

    def examples_through(self, target: Agent) -> list[str]:
        """Example requests of the tools reachable by handing off to ``target``, not back here.

        Breadth first, so the target's own tools come before those of agents further on.
        """
        found: list[str] = []
        seen = {id(self)}
        queue = [target]
        while queue and len(found) < MAX_HANDOFF_EXAMPLES:
            agent = queue.pop(0)
            if id(agent) in seen:
                continue
            seen.add(id(agent))
            for tool in agent.all_tools():
                if isinstance(tool, Handoff):
                    queue.append(tool.target)
                else:
                    found += [e for e in tool.examples if e not in found]
        return found[:MAX_HANDOFF_EXAMPLES]

    def graph(self) -> Iterator[Agent]:
        """Every agent reachable from this one through handoffs (itself first), each once."""
        seen: set[int] = set()
        stack: list[Agent] = [self]
        while stack:
            agent = stack.pop()
            if id(agent) in seen:
                continue
            seen.add(id(agent))
            yield agent
            targets = [h.target if isinstance(h, Handoff) else h for h in agent.handoffs]
            stack.extend(reversed(targets))


@dataclass(eq=False)
class Handoff(Tool):
    """``transfer_to_<agent>``: the runtime switches agents instead of calling a function."""

    target: Agent = field(default=None, kw_only=True)  # type: ignore[assignment]


def handoff(target: Agent, *, description: str | None = None) -> Handoff:
    """The tool that hands the conversation to ``target``; it takes no arguments.

    ``description`` overrides the default, "Hand off to <name>: <its handoff_description>".
    """
    if description is None:
        summary = target.handoff_description or f"continue the conversation as {target.name}."
        description = f"Hand off to {target.name}: {summary}"
    return Handoff(
        name=f"transfer_to_{target.name}",
        description=description,
        parameters={"type": "object", "properties": {}},
        fn=_performed_by_the_runtime,
        target=target,
    )


def _performed_by_the_runtime() -> None:  # pragma: no cover - the runtime never calls it
    raise RuntimeError("a handoff is performed by the runtime, not called")
