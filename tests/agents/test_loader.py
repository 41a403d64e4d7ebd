import pytest

from voxgate.agents.loader import AgentLoadError, load_agent

AGENT_FILE = '''
from voxgate.agents import Agent, tool

@tool
def ping() -> str:
    """Ping."""
    return "pong"

{body}
'''


def write(tmp_path, body, name="agents.py"):
    path = tmp_path / name
    path.write_text(AGENT_FILE.format(body=body))
    return str(path)


@pytest.mark.parametrize(
    "body",
    [
        'agent = Agent("mine", "Be brief.", tools=[ping])',
        'starting_agent = Agent("mine", "Be brief.", tools=[ping])',
        'def agent():\n    return Agent("mine", "Be brief.", tools=[ping])',
    ],
)
def test_the_file_contract(tmp_path, body):
    agent = load_agent(write(tmp_path, body))
    assert agent.name == "mine" and agent.all_tools()[0].name == "ping"


def test_file_colon_name_and_demo(tmp_path):
    path = write(tmp_path, 'other = Agent("other", "x")')
    assert load_agent(f"{path}:other").name == "other"
    assert load_agent("demo").name == "triage_agent"


def test_clear_errors(tmp_path):
    with pytest.raises(AgentLoadError, match="does not exist"):
        load_agent(str(tmp_path / "missing.py"))
    with pytest.raises(AgentLoadError, match="defines no 'agent' or 'starting_agent'"):
        load_agent(write(tmp_path, "x = 1"))
    with pytest.raises(AgentLoadError, match="is a int, not a voxgate Agent"):
        load_agent(write(tmp_path, "agent = 1"))
    with pytest.raises(AgentLoadError, match="failed to import: NameError"):
        load_agent(write(tmp_path, "agent = undefined_name"))
