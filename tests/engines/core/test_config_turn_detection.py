"""``turn_detection`` in ``session.update``: server_vad and semantic_vad, as the GA spec has them."""

import pytest

from voxgate.engines.core.config import SessionConfig
from voxgate.protocol import ProtocolError, validate_server_event
from voxgate.settings import Settings


def config(**settings: str) -> SessionConfig:
    return SessionConfig.from_settings(Settings(_env_file=None, **settings))  # type: ignore[call-arg]


def turn_detection(cfg: SessionConfig) -> dict:
    return cfg.to_session()["audio"]["input"]["turn_detection"]


def update(cfg: SessionConfig, td: dict | None) -> None:
    cfg.update({"type": "realtime", "audio": {"input": {"turn_detection": td}}})


def session_updated(cfg: SessionConfig) -> None:
    validate_server_event({"type": "session.updated", "event_id": "e", "session": cfg.to_session()})


def test_sessions_start_with_semantic_vad():
    cfg = config()
    assert turn_detection(cfg) == {
        "type": "semantic_vad",
        "eagerness": "auto",
        "create_response": True,
        "interrupt_response": True,
    }
    session_updated(cfg)
    assert turn_detection(config(turn_detection="server_vad"))["type"] == "server_vad"


def test_semantic_vad_is_taken_with_its_fields():
    cfg = config(turn_detection="server_vad")
    update(cfg, {"type": "semantic_vad", "eagerness": "high", "interrupt_response": False})
    assert turn_detection(cfg) == {
        "type": "semantic_vad",
        "eagerness": "high",
        "create_response": True,
        "interrupt_response": False,
    }
    session_updated(cfg)
    update(cfg, {"type": "server_vad", "silence_duration_ms": 500})
    td = turn_detection(cfg)
    assert td["type"] == "server_vad" and td["silence_duration_ms"] == 500
    assert "eagerness" not in td
    session_updated(cfg)


@pytest.mark.parametrize(
    ("td", "code", "param"),
    [
        ({"type": "semantic_vad", "eagerness": "eventually"}, "invalid_value", "eagerness"),
        ({"type": "push_to_talk"}, "unsupported_turn_detection", "type"),
    ],
)
def test_bad_turn_detection_is_refused_and_changes_nothing(td, code, param):
    cfg = config()
    before = turn_detection(cfg)
    with pytest.raises(ProtocolError) as refused:
        update(cfg, td)
    assert refused.value.code == code
    assert refused.value.param == f"session.audio.input.turn_detection.{param}"
    assert turn_detection(cfg) == before
