"""``voxgate bench mix`` runs, with few frames, and prints a row per speaker count."""

from __future__ import annotations

from voxgate.bench.mix import PARTICIPANTS, run
from voxgate.cli import build_parser


async def test_mix_prints_a_row_per_speaker_count():
    lines: list[str] = []
    figures = await run(20, report=lines.append)
    assert sorted(figures) == list(PARTICIPANTS)
    rows = [line.split() for line in lines[2 : 2 + len(PARTICIPANTS)]]
    assert [int(row[0]) for row in rows] == list(PARTICIPANTS)
    assert all(mixer > 0 and whole > 0 for mixer, whole in figures.values())
    assert lines[-1].startswith("before mixing") and lines[-1].endswith("µs/frame")


def test_the_command_line_takes_mix():
    args = build_parser().parse_args(["bench", "mix", "--frames", "100"])
    assert args.frames == 100 and args.kind == "mix"
