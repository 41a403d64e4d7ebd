"""The bench's Pipecat venv: reused once installed, a clear error when pip fails (no network)."""

from __future__ import annotations

import json
import subprocess

import pytest

from voxgate.bench import compare


def test_an_installed_venv_is_reused_without_pip(tmp_path, monkeypatch) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").touch()
    (tmp_path / "voxgate-bench.json").write_text(
        json.dumps({"requirements": list(compare.PIPECAT_REQUIREMENTS)})
    )

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"ran {args}")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    lines: list[str] = []
    assert compare.pipecat_python(tmp_path, lines.append) == tmp_path / "bin" / "python"
    assert lines == [f"Pipecat 1.14.0: the bench venv {tmp_path}"]


def test_a_failed_install_is_a_clear_error_and_is_tried_again_next_time(
    tmp_path, monkeypatch
) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "voxgate-bench.json").write_text(json.dumps({"requirements": ["pipecat-ai==0.0.1"]}))
    # pip finds nothing: no index, no local wheels, no config that adds either
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    lines: list[str] = []
    with pytest.raises(compare.CompareError, match=r"installing Pipecat into .* failed"):
        compare.pipecat_python(venv, lines.append)
    assert "making the bench venv" in lines[0] and "pip install" in lines[1]
    assert (venv / "bin" / "python").exists()
    assert not (venv / "voxgate-bench.json").exists()  # the old marker went with --clear


def test_the_default_venv_is_under_the_cache_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compare.default_venv() == tmp_path / "voxgate" / "bench-pipecat-1.14.0"
    assert compare.SERVER_SCRIPT.is_file()
