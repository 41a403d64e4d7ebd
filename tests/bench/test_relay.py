"""``voxgate bench relay`` works end to end (a smoke run: that it works, not how fast)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def relay(tmp_path, *extra: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """A 3-session, 3-second ``voxgate bench relay`` run (and ``extra`` options)."""
    args = ["bench", "relay", "--sessions", "3", "--seconds", "3", "--data-dir", str(tmp_path)]
    return subprocess.run(
        [sys.executable, "-m", "voxgate.cli", *args, *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_a_short_relay_run_prints_its_figures(tmp_path) -> None:
    out = relay(tmp_path, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["sessions"] == 3
    assert figures["direct"]["turns"] >= 3 and figures["turns"] >= 3
    assert figures["dropped_frames"] == 0
    assert figures["p50_ms"] > 0 and figures["cpu_us_per_frame"] > 0
    assert figures["rss_mb_per_session"] is not None


@pytest.mark.skipif(
    os.environ.get("VOXGATE_BENCH_PIPECAT") != "1",
    reason="installs Pipecat into a venv of its own (minutes, the package index); "
    "VOXGATE_BENCH_PIPECAT=1 runs it",
)
def test_compare_pipecat_runs_the_same_callers_through_pipecat(tmp_path) -> None:
    out = relay(tmp_path, "--compare", "pipecat", timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    pipecat = figures["pipecat"]
    assert pipecat["turns"] >= 3 and figures["turns"] >= 3
    assert pipecat["dropped_frames"] == 0
    assert pipecat["p50_ms"] > 0 and pipecat["cpu_us_per_frame"] > 0
    assert pipecat["cpu_ratio"] > 0
    assert abs(pipecat["p99_over_voxgate_ms"] - (pipecat["p99_ms"] - figures["p99_ms"])) <= 0.2
    assert "rss_ratio" in pipecat and "Pipecat 1.14.0" in out.stderr
