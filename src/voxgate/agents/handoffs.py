"""Which agent is in charge, and the session's tools: the agent's beside the clients'.

A handoff switches agents with a ``session.update`` on the same engine, so the conversation
stays as it is. A client may declare tools of its own (its ``session.update``); the runtime
does not answer their calls, and keeps them across handoffs.

An agent's ``vocabulary`` also prompts the engine's speech recognizer (``audio.input
.transcription.prompt``), once the engine has said it transcribes and with which model: an
engine whose transcription is off is not turned on by it.
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
        self._transcription: dict[str, Any] | None = None  # the engine's, less the prompt
        self._prompted: str | None = None  # the prompt last asked for

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

    def transcription(self, session: dict[str, Any]) -> Event | None:
        """The update that prompts the engine's transcription, if it transcribes unprompted.

        Asked once per prompt: no loop with an engine that does not report it back.
        """
        reported = ((session.get("audio") or {}).get("input") or {}).get("transcription")
        if not isinstance(reported, dict) or not reported.get("model"):
            self._transcription = None
            return None
        self._transcription = {k: v for k, v in reported.items() if k != "prompt"}
        prompt = self._prompt()
        if not prompt or reported.get("prompt") == prompt or self._prompted == prompt:
            return None
        self._prompted = prompt
        audio = {"input": {"transcription": {**self._transcription, "prompt": prompt}}}
        return {"type": "session.update", "session": {"type": "realtime", "audio": audio}}

    def _prompt(self) -> str:
        """The agent's vocabulary, else the starting agent's: a graph shares its words."""
        if self.agent.vocabulary is not None:
            return self.agent.vocabulary
        return self._starting.vocabulary or ""

    def _config(self, agent: Agent) -> dict[str, Any]:
        config = agent.session_config()
        config["tools"] = [*config["tools"], *self._client_tools]
        prompt = self._prompt() if self._transcription is not None else ""
        if prompt and self._transcription is not None:
            self._prompted = prompt
            transcription = {**self._transcription, "prompt": prompt}
            audio = config.setdefault("audio", {})
            audio["input"] = {**audio.get("input", {}), "transcription": transcription}
        return config
