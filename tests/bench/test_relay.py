"""``voxgate bench relay`` works end to end (a smoke run: that it works, not how fast)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_a_short_relay_run_prints_its_figures(tmp_path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "voxgate.cli",
            "bench",
            "relay",
            "--sessions",
            "3",
            "--seconds",
            "3",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["sessions"] == 3
    assert figures["direct"]["turns"] >= 3 and figures["turns"] >= 3
    assert figures["dropped_frames"] == 0
    assert figures["p50_ms"] > 0 and figures["cpu_us_per_frame"] > 0
    assert figures["rss_mb_per_session"] is not None
