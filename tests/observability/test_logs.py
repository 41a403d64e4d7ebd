"""JSON logs: one object a line, with the session and participant ids the session code binds."""

import asyncio
import contextlib
import io
import json
import logging
import uuid

import pytest

from tests.conftest import serve_app
from voxgate.client import VoiceClient
from voxgate.observability import logs
from voxgate.server.app import create_app


@contextlib.contextmanager
def json_lines(logger: str = "voxgate"):
    """What ``logger`` writes meanwhile, formatted as ``--log-format json`` does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JSONFormatter())
    target = logging.getLogger(logger)
    level = target.level
    target.addHandler(handler)
    target.setLevel(logging.INFO)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        target.removeHandler(handler)
        target.setLevel(level)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


def test_a_line_carries_the_bound_ids_its_extras_and_its_exception():
    log = logging.getLogger("voxgate.test")

    async def in_a_session() -> None:
        logs.bind("sess_1", "participant_1")
        log.info("hello %s", "there", extra={"turn": 3})
        await asyncio.to_thread(log.info, "from a worker thread")
        try:
            raise ValueError("bad")
        except ValueError:
            log.exception("it failed")

    async def elsewhere() -> None:
        log.info("not in a session")

    async def session_task() -> None:
        log.info("the session's own")

    async def run() -> None:
        await asyncio.create_task(in_a_session())
        await asyncio.create_task(elsewhere())  # a task of its own: nothing bound there
        await asyncio.get_running_loop().create_task(
            session_task(), context=logs.session_context("sess_2")
        )

    with json_lines() as lines:
        asyncio.run(run())
    hello, thread, failed, outside, own = lines
    assert hello["message"] == "hello there" and hello["level"] == "INFO"
    assert hello["logger"] == "voxgate.test" and hello["turn"] == 3
    assert (hello["session_id"], hello["participant_id"]) == ("sess_1", "participant_1")
    assert thread["session_id"] == "sess_1"
    assert "ValueError: bad" in failed["exception"] and failed["level"] == "ERROR"
    assert "session_id" not in outside
    assert own["session_id"] == "sess_2" and "participant_id" not in own
    assert hello["time"].endswith("+00:00")


@pytest.mark.e2e
async def test_a_sessions_log_lines_carry_its_ids(settings):
    app = create_app(settings.model_copy(update={"engine": "loopback", "agents": "none"}))
    session_id = uuid.uuid4().hex
    with json_lines() as lines:
        async with serve_app(app) as port:
            url = f"ws://127.0.0.1:{port}/ws/{session_id}"
            async with VoiceClient(url) as client:
                await client.wait_for("session.created")
                await client.send_raw("not json")  # an error for this client
                await client.wait_for("error")
    joins = [line for line in lines if line.get("session_id") == session_id]
    assert joins, lines
    assert all(line["participant_id"].startswith("participant_") for line in joins)
    assert any("joins" in line["message"] for line in joins)
    assert any("leaves" in line["message"] for line in joins)
