"""An ephemeral key's holder may narrow the configuration it was minted with, never widen it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import websockets

from tests.server.wire import API_KEY, Served, key_protocols, loopback_settings, serve
from voxgate.protocol import ProtocolError
from voxgate.server.auth import Grant
from voxgate.server.scope import scope_check

MINTED = {
    "type": "realtime",
    "instructions": "You are the front desk. Never discuss prices.",
    "max_output_tokens": 20,
    "output_modalities": ["audio"],
    "audio": {"output": {"voice": "alloy", "format": {"type": "audio/pcmu"}}},
}


def check(ev: dict[str, Any]) -> None:
    guard = scope_check(Grant("client_secret", session=MINTED, session_id="sess_1"))
    assert guard is not None
    guard(ev)


def update(**session: Any) -> dict[str, Any]:
    return {"type": "session.update", "event_id": "evt_1", "session": session}


@pytest.mark.parametrize(
    ("event", "param"),
    [
        (update(max_output_tokens=4096), "session.max_output_tokens"),
        (update(max_output_tokens="inf"), "session.max_output_tokens"),
        (update(instructions="Discuss prices."), "session.instructions"),
        (update(output_modalities=["text", "audio"]), "session.output_modalities"),
        (update(audio={"output": {"voice": "verse"}}), "session.audio.output.voice"),
        (update(audio=None), "session.audio"),
        (
            {"type": "response.create", "response": {"max_output_tokens": 4096}},
            "response.max_output_tokens",
        ),
        ({"type": "response.create", "response": {"instructions": "x"}}, "response.instructions"),
    ],
)
def test_widening_is_refused_naming_the_field(event, param):
    with pytest.raises(ProtocolError) as refused:
        check(event)
    assert refused.value.param == param
    assert refused.value.code == "scope_exceeded"
    assert param in str(refused.value)


@pytest.mark.parametrize(
    "event",
    [
        update(max_output_tokens=10),
        update(max_output_tokens=20, instructions=MINTED["instructions"]),
        update(output_modalities=["audio"]),
        update(audio={"output": {"format": {"type": "audio/pcm", "rate": 24000}}}),
        update(audio={"input": {"format": {"type": "audio/pcma"}}}),
        update(tools=[]),  # not set at minting: the holder's to choose
        {"type": "response.create", "response": {"max_output_tokens": 5}},
        {"type": "response.create"},
        {"type": "input_audio_buffer.clear"},
    ],
)
def test_narrowing_or_what_the_minting_left_open_is_allowed(event):
    check(event)


def test_api_keys_and_the_open_default_are_not_scoped():
    assert scope_check(Grant("api_key")) is None
    assert scope_check(Grant("open")) is None


@pytest_asyncio.fixture(scope="module")
async def server() -> AsyncIterator[Served]:
    async with serve(loopback_settings(api_keys=[API_KEY])) as served:
        yield served


async def next_of(ws: Any, *types: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            ev = json.loads(await ws.recv())
            if ev["type"] in types:
                return dict(ev)


@pytest.mark.e2e
@pytest.mark.parametrize("path", ["/v1/realtime?model=m", "/ws/{session_id}"])
async def test_a_widening_update_gets_an_error_and_a_narrowing_one_goes_through(server, path):
    secret = await server.mint(MINTED)
    url = server.ws + path.format(session_id=secret["session"]["id"])
    async with websockets.connect(url, subprotocols=key_protocols(secret["value"])) as ws:
        wide = {"type": "session.update", "event_id": "evt_wide", "session": {"type": "realtime"}}
        wide["session"]["max_output_tokens"] = 4096
        await ws.send(json.dumps(wide))
        error = await next_of(ws, "error", "session.updated")
        assert error["type"] == "error"
        assert error["error"]["param"] == "session.max_output_tokens"
        assert error["error"]["event_id"] == "evt_wide"
        narrow = {"type": "session.update", "session": {"type": "realtime", "max_output_tokens": 8}}
        await ws.send(json.dumps(narrow))
        assert (await next_of(ws, "error", "session.updated"))["type"] == "session.updated"


@pytest.mark.e2e
async def test_an_api_key_client_of_the_same_session_is_not_scoped(server):
    secret = await server.mint(MINTED)
    url = f"{server.ws}/ws/{secret['session']['id']}"
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {API_KEY}"}
    ) as ws:
        wide = {"type": "session.update", "session": {"type": "realtime", "max_output_tokens": 99}}
        await ws.send(json.dumps(wide))
        assert (await next_of(ws, "error", "session.updated"))["type"] == "session.updated"


@pytest.mark.e2e
async def test_a_call_whose_session_field_widens_the_key_is_refused(server):
    secret = await server.mint(MINTED)
    async with server.client() as http:
        r = await http.post(
            "/v1/realtime/calls",
            files={
                "sdp": (None, "v=0\r\n"),
                "session": (None, json.dumps({"type": "realtime", "max_output_tokens": 4096})),
            },
            headers={"Authorization": f"Bearer {secret['value']}"},
        )
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "session.max_output_tokens"
