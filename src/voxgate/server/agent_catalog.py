"""The agents a server runs (``settings.agents``): the one a new session starts with, their runs."""

from __future__ import annotations

from voxgate.agents import AgentRuntime
from voxgate.agents import runs as agent_runs
from voxgate.agents.agent import Agent
from voxgate.agents.loader import load_agent
from voxgate.protocol import Event
from voxgate.session import AgentFactory, Session, SessionAgent
from voxgate.settings import Settings


class AgentCatalog:
    """The agent graph of ``settings.agents`` (none for ``none``) and its background runs."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.runs = agent_runs.RunManager()
        self._by_name: dict[str, Agent] = {}
        self._starting: Agent | None = None
        if settings.agents == "none":
            return
        self._starting = load_agent(settings.agents)
        for agent in self._starting.graph():
            self._by_name[agent.name] = agent
            for tool in agent.all_tools():
                if isinstance(tool, agent_runs.DelegationTool):
                    self.runs.add_runner(tool.runner)

    @property
    def names(self) -> list[str]:
        """The agents a session may start with, the server's starting agent first."""
        others = [name for name in self._by_name if self._starting and name != self._starting.name]
        return [self._starting.name, *others] if self._starting else []

    def session_configs(self) -> list[Event]:
        """Each agent's session configuration, the starting agent's last (prepared last)."""
        return [self._by_name[name].session_config() for name in [*self.names[1:], *self.names[:1]]]

    def starting(self, name: str | None = None) -> AgentFactory | None:
        """What makes a new session's agent: agent ``name``, or the server's starting agent.

        None when the server runs no agents; a ``ValueError`` names the choices for an unknown
        ``name``.
        """
        if name and name not in self._by_name:
            raise ValueError(
                f"unknown agent {name!r}; this server runs: {', '.join(self.names) or 'no agents'}"
            )
        agent = self._by_name[name] if name else self._starting
        if agent is None:
            return None

        def runtime(session: Session) -> SessionAgent:
            return AgentRuntime(
                session,
                agent,
                tool_timeout=self._settings.tool_timeout_s,
                runs=self.runs,
                narration=self._settings.run_narration,
            )

        return runtime
