"""``voxgate bench soak`` runs, with tiny numbers, against an in-process server."""

from __future__ import annotations

import os

import pytest

from tests.conftest import serve_app
from voxgate.bench.soak import soak
from voxgate.cli import build_parser
from voxgate.server.app import create_app
from voxgate.settings import Settings

pytestmark = pytest.mark.e2e


async def test_soak_prints_rss_per_round():
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, engine="loopback", agents="none", session_grace_seconds=0
    )
    lines: list[str] = []
    async with serve_app(create_app(settings)) as port:
        figures = await soak(
            f"http://127.0.0.1:{port}",
            os.getpid(),
            sessions=3,
            rounds=2,
            settle_s=0,
            report=lines.append,
        )
    assert len(figures.opened_mb) == len(figures.closed_mb) == 2
    assert lines[0].startswith("start: RSS") and lines[1].startswith("round  1: 3 sessions")
    assert "over 2 rounds" in lines[-1]


def test_the_command_line_takes_soak():
    args = build_parser().parse_args(["bench", "soak", "--sessions", "3", "--rounds", "2"])
    assert (args.sessions, args.rounds, args.url) == (3, 2, None)
