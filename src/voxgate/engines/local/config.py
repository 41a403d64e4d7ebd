"""A local engine session's settings, in the shape of the GA ``session`` object."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from voxgate.protocol import ProtocolError, new_id
from voxgate.settings import Settings

MODEL = "voxgate-local"
_PCM = {"type": "audio/pcm", "rate": 24000}


@dataclass
class TurnDetection:
    """``turn_detection`` of type ``server_vad``."""

    threshold: float = 0.5
    silence_duration_ms: int = 300
    prefix_padding_ms: int = 300
    create_response: bool = True
    interrupt_response: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The spec's form."""
        return {"type": "server_vad", **self.__dict__}


@dataclass
class SessionConfig:
    """What ``session.update`` may change; starts from the server's settings."""

    instructions: str
    voice: str
    turn_detection: TurnDetection | None
    output_modalities: list[str] = field(default_factory=lambda: ["audio"])
    max_output_tokens: int = 96
    temperature: float = 0.2
    id: str = field(default_factory=lambda: new_id("sess"))

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionConfig:
        """Defaults for a new session."""
        return cls(
            instructions=settings.instructions,
            voice=settings.voice,
            turn_detection=TurnDetection(
                threshold=settings.vad_threshold,
                silence_duration_ms=settings.vad_silence_duration_ms,
                prefix_padding_ms=settings.vad_prefix_padding_ms,
            ),
            max_output_tokens=settings.llm_max_tokens,
            temperature=settings.llm_temperature,
        )

    @property
    def create_response_on_commit(self) -> bool:
        """Manual commits answer only under server VAD; without it the client asks."""
        return self.turn_detection is not None and self.turn_detection.create_response

    def update(self, session: dict[str, Any]) -> None:
        """Apply a validated ``session.update`` payload; refuse what this engine can't do."""
        if session.get("type") not in (None, "realtime"):
            raise ProtocolError(
                "only 'realtime' sessions are supported", code="invalid_value", param="session.type"
            )
        if (instructions := session.get("instructions")) is not None:
            self.instructions = instructions
        if (modalities := session.get("output_modalities")) is not None:
            if modalities not in (["audio"], ["text"]):
                raise ProtocolError(
                    "output_modalities must be ['audio'] or ['text']",
                    code="invalid_value",
                    param="session.output_modalities",
                )
            self.output_modalities = list(modalities)
        if (limit := session.get("max_output_tokens")) is not None:
            self.max_output_tokens = 4096 if limit == "inf" else int(limit)
        audio = session.get("audio") or {}
        audio_in, audio_out = audio.get("input") or {}, audio.get("output") or {}
        for key, part in (("input", audio_in), ("output", audio_out)):
            fmt = part.get("format")
            if fmt is not None and (fmt.get("type"), fmt.get("rate", 24000)) != (
                "audio/pcm",
                24000,
            ):
                raise ProtocolError(
                    "the local engine takes audio/pcm at 24000 Hz",
                    code="unsupported_audio_format",
                    param=f"session.audio.{key}.format",
                )
        if (voice := audio_out.get("voice")) is not None:
            self.voice = voice if isinstance(voice, str) else str(voice.get("id", self.voice))
        if "turn_detection" in audio_in:
            self._update_turn_detection(audio_in["turn_detection"])

    def _update_turn_detection(self, td: dict[str, Any] | None) -> None:
        if td is None:
            self.turn_detection = None
            return
        if td.get("type") != "server_vad":
            raise ProtocolError(
                "turn_detection must be null or of type 'server_vad'",
                code="unsupported_turn_detection",
                param="session.audio.input.turn_detection.type",
            )
        current = self.turn_detection or TurnDetection()
        fields = {
            k: v for k, v in td.items() if k in TurnDetection.__dataclass_fields__ and v is not None
        }
        self.turn_detection = TurnDetection(**{**current.__dict__, **fields})

    def to_session(self) -> dict[str, Any]:
        """The GA ``session`` object for ``session.created`` and ``session.updated``."""
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": self.id,
            "model": MODEL,
            "output_modalities": self.output_modalities,
            "instructions": self.instructions,
            "max_output_tokens": self.max_output_tokens,
            "tools": [],
            "tool_choice": "auto",
            "audio": {
                "input": {
                    "format": _PCM,
                    "transcription": {"model": "whisper-tiny.en"},
                    "turn_detection": self.turn_detection.to_dict()
                    if self.turn_detection
                    else None,
                },
                "output": {"format": _PCM, "voice": self.voice, "speed": 1.0},
            },
        }
