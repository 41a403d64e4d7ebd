"""The agent layer inside the real server: sessions start with the configured agent."""

import uuid

import pytest

from voxgate.agents import demo
from voxgate.cli import build_parser
from voxgate.client import VoiceClient
from voxgate.server.app import create_app

pytestmark = pytest.mark.e2e


async def test_sessions_start_with_the_demo_triage_agent(server_url):
    async with VoiceClient(f"{server_url}/ws/{uuid.uuid4().hex}") as client:
        await client.send_json({"type": "session.update", "session": {"type": "realtime"}})
        _, updated = await client.wait_for("session.updated")
        assert updated["session"]["instructions"] == demo.build().instructions


def test_serve_takes_an_agents_file_and_bad_files_fail_at_start(settings, tmp_path):
    args = build_parser().parse_args(["serve", "--agents", "my_agents.py"])
    assert args.agents == "my_agents.py"
    from voxgate.agents.loader import AgentLoadError

    with pytest.raises(AgentLoadError, match="does not exist"):
        create_app(settings.model_copy(update={"agents": str(tmp_path / "nope.py")}))
    app = create_app(settings.model_copy(update={"agents": "none"}), models=object())  # type: ignore[arg-type]
    assert app.state.gateway.agents.runs.runners == {}
