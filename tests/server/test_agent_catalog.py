"""Which agent a new session starts with: the one it asks for by name, or the server's."""

import pytest

from voxgate.agents.demo import build
from voxgate.engines.loopback import LoopbackEngine
from voxgate.server.agent_catalog import AgentCatalog
from voxgate.session import AgentFactory, Session
from voxgate.settings import Settings


def _settings(agents: str) -> Settings:
    return Settings(_env_file=None, engine="loopback", agents=agents)  # type: ignore[call-arg]


async def _agent_name(factory: AgentFactory | None) -> str:
    assert factory is not None
    session = Session("s", lambda config: LoopbackEngine(), factory)
    try:
        return session.agent.agent.name  # type: ignore[union-attr]
    finally:
        await session.close()


async def test_a_session_starts_with_the_agent_it_names_or_the_starting_one():
    catalog = AgentCatalog(_settings("demo"))
    assert catalog.names[0] == "triage_agent"
    assert set(catalog.names) == {"triage_agent", "faq_agent", "seat_booking_agent"}
    assert await _agent_name(catalog.starting()) == "triage_agent"
    assert await _agent_name(catalog.starting("faq_agent")) == "faq_agent"
    # each agent's session configuration, the starting agent's last
    starting, *others = build().graph()
    assert [c["instructions"] for c in catalog.session_configs()] == [
        *(a.instructions for a in others),
        starting.instructions,
    ]
    with pytest.raises(ValueError, match=r"unknown agent 'nobody'.*triage_agent"):
        catalog.starting("nobody")


def test_a_server_without_agents_opens_plain_model_sessions():
    catalog = AgentCatalog(_settings("none"))
    assert catalog.names == []
    assert catalog.starting() is None
    with pytest.raises(ValueError, match="this server runs: no agents"):
        catalog.starting("faq_agent")
