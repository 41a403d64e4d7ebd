"""The gateway is the one object the routes share: created with the app, handed by dependency."""

import httpx
import pytest

from tests.conftest import serve_app
from voxgate.engines.loopback import LoopbackEngine
from voxgate.server.app import create_app
from voxgate.server.gateway import Gateway
from voxgate.settings import Settings


async def test_routes_reach_the_gateway_and_app_state_holds_nothing_else():
    settings = Settings(_env_file=None, engine="loopback", agents="none")  # type: ignore[call-arg]
    app = create_app(settings)
    gateway = app.state.gateway
    assert isinstance(gateway, Gateway)
    assert set(app.state._state) == {"gateway"}
    with pytest.raises(RuntimeError, match="has not started"):
        gateway.new_engine()  # the engine factory comes at start-up
    async with serve_app(app) as port, httpx.AsyncClient() as http:
        engine = gateway.new_engine()
        assert isinstance(engine, LoopbackEngine)
        await engine.close()
        gateway.registry.open("sess_1")
        health = (await http.get(f"http://127.0.0.1:{port}/healthz")).json()
        assert health["sessions"] == 1
