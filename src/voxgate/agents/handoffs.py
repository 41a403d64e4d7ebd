"""Which agent is in charge, and the session's tools: the agent's beside the clients'.

A handoff switches agents with a ``session.update`` on the same engine, so the conversation
stays as it is. A client may declare tools of its own (its ``session.update``); the runtime
does not answer their calls, and keeps them across handoffs.
"""

from __future__ import annotations

from typing import Any

from voxgate.agents.agent import Agent
from voxgate.protocol import Event


class AgentSwitch:
    """The agent in charge and the ``session.update`` events that configure the engine."""

    def __init__(self, starting: Agent) -> None:
        self._starting = starting
        self.agent = starting
        self._client_tools: list[dict[str, Any]] = []
        self._restored: set[str] = set()

    def opening(self) -> Event:
        """The starting agent's configuration, before anything else reaches the engine."""
        return {"type": "session.update", "session": self._config(self.agent)}

    def hand_off(self, target: Agent) -> Event:
        """Make ``target`` the agent in charge; the ``session.update`` that says so."""
        self.agent = target
        return {"type": "session.update", "session": self._config(target)}

    def session_updated(self, tools: list[dict[str, Any]]) -> Event | None:
        """Remember a client's tools; the update that puts the agent's back if it dropped them.

        Engines that do not report ``tools`` in ``session.updated`` are left alone. The
        agent's tools are put back once per change: no loop with an engine that drops them.
        """
        if not tools:
            return None
        agents = [*self._starting.graph(), *self.agent.graph()]
        ours = {t.name for agent in agents for t in agent.all_tools()}
        self._client_tools = [t for t in tools if t.get("name") not in ours]
        present = {t.get("name") for t in tools}
        dropped = {t.name for t in self.agent.all_tools() if t.name not in present}
        if not dropped or dropped == self._restored:
            self._restored = set()
            return None
        self._restored = dropped
        return {
            "type": "session.update",
            "session": {"type": "realtime", "tools": self._config(self.agent)["tools"]},
        }

    def _config(self, agent: Agent) -> dict[str, Any]:
        config = agent.session_config()
        config["tools"] = [*config["tools"], *self._client_tools]
        return config
