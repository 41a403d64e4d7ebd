"""``audio.input.transcription.prompt``: kept, reported, and handed to the speech recognizer."""

from voxgate.engines.core.config import SessionConfig
from voxgate.settings import Settings


def test_the_transcription_prompt_is_kept_and_reported():
    cfg = SessionConfig.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    assert "prompt" not in cfg.to_session()["audio"]["input"]["transcription"]
    prompt = {"model": "whisper-tiny.en", "prompt": "wifi, carry-on"}
    cfg.update({"type": "realtime", "audio": {"input": {"transcription": prompt}}})
    assert cfg.transcription_prompt == "wifi, carry-on"
    assert cfg.to_session()["audio"]["input"]["transcription"] == prompt
    cfg.update({"type": "realtime", "instructions": "Be brief."})  # untouched by other fields
    assert cfg.transcription_prompt == "wifi, carry-on"
    cfg.update({"type": "realtime", "audio": {"input": {"transcription": {"model": "x"}}}})
    assert cfg.transcription_prompt == ""
