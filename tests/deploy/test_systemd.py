"""deploy/systemd as shipped: the units run ``voxgate serve`` as voxgate's CLI reads it, the env
file names only real settings, and systemd itself (where installed) finds nothing wrong."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import uvicorn
from dotenv import dotenv_values

from voxgate.cli import _serve, build_parser, uvicorn_options
from voxgate.session import summary
from voxgate.settings import Settings
from voxgate.store import recorder

SYSTEMD = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
UNITS = {"voxgate.service": "voxgate.service", "voxgate@.service": "voxgate@8001.service"}
"""Each shipped unit, and the name systemd is asked about (the template as instance 8001)."""
VENV = "/opt/voxgate/venv"
ENV_FILE = "/etc/voxgate/voxgate.env"
NOT_VOXGATE = {"FORWARDED_ALLOW_IPS"}
"""Variables of the env file that are not voxgate's settings (uvicorn's, checked below)."""
LINE = re.compile(r"^#?([A-Z][A-Z0-9_]*)=(.*)$")


def unit(name: str, instance: str = "8001") -> dict[str, list[str]]:
    """A unit file's ``Section.Key`` → values (a key may repeat), ``%i`` as ``instance``."""
    entries: dict[str, list[str]] = {}
    section = ""
    for raw in (SYSTEMD / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{name}: not a Key=value line: {raw!r}"
        entries.setdefault(f"{section}.{key.strip()}", []).append(
            value.strip().replace("%i", instance)
        )
    return entries


def one(entries: dict[str, list[str]], key: str) -> str:
    values = entries.get(key, [])
    assert len(values) == 1, f"{key}: {values}"
    return values[0]


def seconds(value: str) -> float:
    """A systemd time span (``90s``, ``1min 30s``, ``90``) in seconds."""
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value)
    assert parts, value
    return sum(float(n) * units[u] for n, u in parts)


@pytest.mark.parametrize("name", UNITS)
def test_a_unit_runs_voxgate_serve_from_the_venv(name: str) -> None:
    service = unit(name)
    argv = shlex.split(one(service, "Service.ExecStart"))
    assert argv[0] == f"{VENV}/bin/voxgate"
    args = build_parser().parse_args(argv[1:])
    assert args.run is _serve
    assert args.workers == 1
    if "@" in name:  # one node per instance, on the instance's port
        assert args.port == 8001
    assert service["Service.EnvironmentFile"] == [ENV_FILE]
    assert one(service, "Service.User") == one(service, "Service.Group") == "voxgate"
    assert one(service, "Service.Restart") == "on-failure"
    assert one(service, "Install.WantedBy") == "multi-user.target"


@pytest.mark.parametrize("name", UNITS)
def test_a_unit_writes_only_to_its_data_dir(name: str) -> None:
    service = unit(name)
    assert one(service, "Service.ProtectSystem") == "strict"
    for flag in ("NoNewPrivileges", "PrivateTmp", "PrivateDevices", "ProtectHome"):
        assert one(service, f"Service.{flag}") == "yes", flag
    assert one(service, "Service.CapabilityBoundingSet") == ""
    # the data dir is the state directory, which systemd keeps writable under strict
    state = "/var/lib/" + one(service, "Service.StateDirectory")
    environment = dict(v.split("=", 1) for v in service["Service.Environment"])
    assert environment["VOXGATE_DATA_DIR"] == state
    assert one(service, "Service.WorkingDirectory") == state
    data_dir = Settings(_env_file=None, data_dir=environment["VOXGATE_DATA_DIR"]).data_dir  # type: ignore[call-arg]
    assert data_dir == Path(state)


@pytest.mark.parametrize("name", UNITS)
def test_a_unit_stops_gently_and_holds_many_connections(name: str) -> None:
    service = unit(name)
    assert one(service, "Service.KillSignal") == "SIGTERM"
    assert one(service, "Service.KillMode") == "mixed"  # --workers: the front stops its workers
    # the sessions' summaries and the store's last flush, with room to spare
    needed = summary.TIMEOUT_S + recorder.END_FLUSH_S + recorder.WRITE_TIMEOUT_S
    assert seconds(one(service, "Service.TimeoutStopSec")) >= needed
    assert int(one(service, "Service.LimitNOFILE")) >= 65536


def env_lines() -> list[tuple[str, str, bool]]:
    """The env file's ``(name, value, commented out)``, in order."""
    found = []
    for raw in (SYSTEMD / "voxgate.env").read_text().splitlines():
        if match := LINE.match(raw.strip()):
            found.append((match[1], match[2], raw.startswith("#")))
    return found


def test_the_env_file_names_only_real_settings() -> None:
    fields = {f"VOXGATE_{name.upper()}" for name in Settings.model_fields}
    names = [name for name, _, _ in env_lines()]
    assert len(names) > 15  # the lines are read at all
    unknown = {n for n in names if n not in fields | NOT_VOXGATE}
    assert not unknown, f"not voxgate settings: {sorted(unknown)}"
    active = {name for name, _, commented in env_lines() if not commented}
    assert {"VOXGATE_HOST", "VOXGATE_PORT", "VOXGATE_AUTH_REQUIRED"} <= active


def test_the_env_file_is_valid_settings_as_shipped_and_uncommented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, _, _ in env_lines():
        monkeypatch.delenv(name, raising=False)
    shipped = Settings(_env_file=SYSTEMD / "voxgate.env")  # type: ignore[call-arg]
    assert (shipped.host, shipped.port, shipped.auth_required) == ("127.0.0.1", 8000, True)
    assert shipped.log_format == "json"
    # every example line at once (a later line wins, as in systemd): valid too
    every = tmp_path / "every.env"
    every.write_text("\n".join(f"{n}={v}" for n, v, _ in env_lines()) + "\n")
    values = dotenv_values(every)
    assert values["VOXGATE_WEBRTC_ICE_SERVERS"] == '[{"urls": "stun:stun.l.google.com:19302"}]'
    settings = Settings(_env_file=every)  # type: ignore[call-arg]
    assert settings.engine == "openai"
    assert settings.webrtc_ice_servers[0].urls == "stun:stun.l.google.com:19302"
    assert settings.database_url and settings.database_url.startswith("postgresql://")


def test_forwarded_allow_ips_reaches_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    """``voxgate serve`` leaves uvicorn's trusted proxies to ``FORWARDED_ALLOW_IPS``."""
    options = uvicorn_options(Settings(_env_file=None))  # type: ignore[call-arg]
    assert "forwarded_allow_ips" not in options and "proxy_headers" not in options
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.5")
    assert uvicorn.Config(app=None, **options).forwarded_allow_ips == "10.0.0.5"
    monkeypatch.delenv("FORWARDED_ALLOW_IPS")
    assert "127.0.0.1" in uvicorn.Config(app=None, **options).forwarded_allow_ips


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed (the checks above parse the units)")
    return found


def installed_units(tmp_path: Path) -> Path:
    """The units with ExecStart pointing at this venv's voxgate (systemd checks it exists)."""
    voxgate = Path(sys.executable).parent / "voxgate"
    assert voxgate.exists(), voxgate
    for name in UNITS:
        text = (SYSTEMD / name).read_text().replace(f"{VENV}/bin/voxgate", str(voxgate))
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize("name", UNITS)
def test_systemd_verifies_the_unit(name: str, tmp_path: Path) -> None:
    analyze = systemd_analyze()
    where = installed_units(tmp_path)
    done = subprocess.run(
        [analyze, "verify", str(where / UNITS[name])], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_systemd_rates_the_hardening_ok(tmp_path: Path) -> None:
    analyze = systemd_analyze()
    where = installed_units(tmp_path)
    done = subprocess.run(
        [analyze, "security", "--offline=yes", str(where / "voxgate.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "--offline" in done.stderr and "unrecognized" in done.stderr:
        pytest.skip("this systemd-analyze has no --offline")
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert match, done.stdout + done.stderr
    assert float(match[1]) <= 2.0, done.stdout  # systemd calls up to 3.9 "OK"
