"""The registry opens a session with the agent it starts with, and keeps a live one as it is."""

from voxgate.engines.loopback import LoopbackEngine
from voxgate.protocol import Event
from voxgate.session import Session, SessionAgent, SessionRegistry


class _Agent:
    def __init__(self, name: str) -> None:
        self.name = name

    def opening_events(self) -> list[Event]:
        return []

    def observe(self, ev: Event) -> None:
        pass

    async def close(self) -> None:
        pass


def _agent(name: str):
    def make(session: Session) -> SessionAgent:
        return _Agent(name)

    return make


async def test_the_agent_is_an_argument_of_opening_a_new_session():
    configs: list[Event | None] = []

    def engine(config: Event | None) -> LoopbackEngine:
        configs.append(config)
        return LoopbackEngine()

    registry = SessionRegistry(engine)
    plain = registry.open("plain", config={"instructions": "x"})
    assert plain.agent is None
    first = registry.open("s1", agent=_agent("faq"))
    assert isinstance(first.agent, _Agent) and first.agent.name == "faq"
    # a live session keeps its agent: a second client's choice does not replace it
    assert registry.open("s1", agent=_agent("triage")) is first
    assert first.agent.name == "faq"
    await plain.start()
    assert configs == [{"instructions": "x"}]
    assert len(registry) == 2
    await registry.close()
    assert len(registry) == 0
