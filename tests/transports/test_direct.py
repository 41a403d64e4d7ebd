"""Browser-direct mode: voxgate mints an upstream key; the client talks to the upstream itself."""

from __future__ import annotations

import httpx
import pytest
from openai import AsyncOpenAI
from openai.types.realtime import ClientSecretCreateResponse

from tests.conftest import serve_app
from tests.transports.test_realtime import Conversation
from voxgate.server.app import create_app
from voxgate.settings import Settings

pytestmark = pytest.mark.e2e

UPSTREAM_KEY = "sk-upstream-direct"
USER_KEY = "sk-user"


def gateway_settings(upstream_port: int, **extra) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        engine="openai",
        openai_api_key=UPSTREAM_KEY,
        openai_base_url=f"http://127.0.0.1:{upstream_port}/v1",
        instructions="You are the front desk of a small hotel.",
        api_keys=[USER_KEY],
        **extra,
    )


async def test_minted_key_reaches_the_upstream_with_the_servers_session(models):
    upstream_settings = Settings(_env_file=None, api_keys=[UPSTREAM_KEY])  # type: ignore[call-arg]
    async with serve_app(create_app(upstream_settings, models=models)) as up:
        gateway = create_app(gateway_settings(up, direct_mode_enabled=True))
        async with serve_app(gateway) as port, httpx.AsyncClient() as http:
            url = f"http://127.0.0.1:{port}/api/realtime/client-secret"
            refused = await http.post(url, headers={"Authorization": "Bearer sk-wrong"})
            assert refused.status_code == 401
            minted = await http.post(url, headers={"Authorization": f"Bearer {USER_KEY}"})
            assert minted.status_code == 200, minted.text
            assert UPSTREAM_KEY not in minted.text  # the provider key never reaches the browser
            secret = ClientSecretCreateResponse.model_validate(minted.json())
            assert secret.value.startswith("ek_")
            assert secret.session.instructions == "You are the front desk of a small hotel."

            browser = AsyncOpenAI(
                api_key=secret.value,
                base_url=f"http://127.0.0.1:{up}/v1",
                websocket_base_url=f"ws://127.0.0.1:{up}/v1",
            )
            async with browser.realtime.connect(model="gpt-realtime") as connection:
                talk = Conversation(connection)
                try:
                    _, created = await talk.wait_for("session.created")
                    assert created["session"]["instructions"].startswith("You are the front desk")
                    await connection.conversation.item.create(
                        item={
                            "type": "message",
                            "role": "user",
                            "content": [{"type": "input_text", "text": "Hello!"}],
                        }
                    )
                    await connection.response.create()
                    _, done = await talk.wait_for("response.done")
                    assert done["response"]["status"] == "completed"
                finally:
                    await talk.close()


async def test_direct_mode_off_answers_404():
    app = create_app(gateway_settings(9))  # never connects: the route refuses first
    async with serve_app(app) as port, httpx.AsyncClient() as http:
        response = await http.post(
            f"http://127.0.0.1:{port}/api/realtime/client-secret",
            headers={"Authorization": f"Bearer {USER_KEY}"},
        )
        assert response.status_code == 404
        assert "VOXGATE_DIRECT_MODE_ENABLED" in response.json()["error"]["message"]
