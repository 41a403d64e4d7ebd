"""The settings of a session whose engine owns its conversation, as the GA ``session`` object.

The local and scripted engines keep them; ``session.update`` changes them, checked.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from voxgate.components.llm import Tool, ToolChoice
from voxgate.engines.core import checks
from voxgate.protocol import ProtocolError, new_id
from voxgate.settings import Settings

_PCM = {"type": "audio/pcm", "rate": 24000}
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
INSTRUCTIONS_ROOM = 512
"""Tokens of a model's context kept for the instructions when bounding replies."""


EAGERNESS = ("low", "medium", "high", "auto")
"""``eagerness`` of ``semantic_vad``: how soon a pause ends the user's turn."""


@dataclass
class TurnDetection:
    """``turn_detection``: ``server_vad``, or ``semantic_vad`` (the VAD's knobs still apply)."""

    threshold: float = 0.5
    silence_duration_ms: int = 300
    prefix_padding_ms: int = 300
    create_response: bool = True
    interrupt_response: bool = True
    type: str = "server_vad"
    eagerness: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        """The spec's form of its type."""
        common = {
            "create_response": self.create_response,
            "interrupt_response": self.interrupt_response,
        }
        if self.type == "semantic_vad":
            return {"type": self.type, "eagerness": self.eagerness, **common}
        return {
            "type": "server_vad",
            "threshold": self.threshold,
            "silence_duration_ms": self.silence_duration_ms,
            "prefix_padding_ms": self.prefix_padding_ms,
            **common,
        }


@dataclass(frozen=True)
class Truncation:
    """``truncation``: how much of the conversation the model sees once it grows long.

    ``auto`` and ``retention_ratio`` both drop the oldest turns once the conversation (after
    the instructions) passes ``limit`` tokens, down to ``retention_ratio`` of it, so the kept
    start stays put for several turns and the model's prompt cache keeps serving it; ``auto``
    keeps half. ``limit`` ``None`` is the engine's budget (``llm_history_tokens``, within the
    model's context window). ``disabled`` sends everything; a model whose window it
    overflows fails the response.
    """

    type: str = "auto"
    retention_ratio: float = 0.5
    limit: int | None = None

    @classmethod
    def parse(cls, value: Any) -> Truncation:
        """The GA ``truncation`` value, checked."""
        param = "session.truncation"
        if value in ("auto", "disabled"):
            return cls(type=value)
        if not isinstance(value, dict) or value.get("type") != "retention_ratio":
            raise ProtocolError(
                "truncation must be 'auto', 'disabled' or "
                "{'type': 'retention_ratio', 'retention_ratio': ...}",
                code="invalid_value",
                param=param,
            )
        ratio = value.get("retention_ratio")
        if not isinstance(ratio, int | float) or not 0.0 <= ratio <= 1.0:
            raise ProtocolError(
                "retention_ratio must be a number from 0.0 to 1.0",
                code="invalid_value",
                param=f"{param}.retention_ratio",
            )
        limit = (value.get("token_limits") or {}).get("post_instructions")
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ProtocolError(
                "token_limits.post_instructions must be a positive integer",
                code="invalid_value",
                param=f"{param}.token_limits.post_instructions",
            )
        return cls(type="retention_ratio", retention_ratio=float(ratio), limit=limit)

    def to_value(self) -> Any:
        """The spec's form."""
        if self.type != "retention_ratio":
            return self.type
        value: dict[str, Any] = {"type": self.type, "retention_ratio": self.retention_ratio}
        if self.limit is not None:
            value["token_limits"] = {"post_instructions": self.limit}
        return value


@dataclass
class SessionConfig:
    """What ``session.update`` may change; starts from the server's settings."""

    instructions: str
    voice: str
    turn_detection: TurnDetection | None
    output_modalities: list[str] = field(default_factory=lambda: ["audio"])
    max_output_tokens: int = 96
    temperature: float = 0.2
    speed: float = 1.0
    """``audio.output.speed``: how fast replies are spoken (a reply under way keeps its own)."""
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice = "auto"
    truncation: Truncation = field(default_factory=Truncation)
    history_tokens: int = 512  # the budget of truncation "auto" and of limits left unset
    transcription_prompt: str = ""
    """``audio.input.transcription.prompt``: words the speech recognizer should expect."""
    model: str = "voxgate-local"
    id: str = field(default_factory=lambda: new_id("sess"))
    voices: tuple[str, ...] | None = None
    """The voices the engine speaks with; None: any name is taken (the scripted engine)."""
    output_tokens_cap: int = checks.MAX_OUTPUT_TOKENS
    """The longest reply the engine serves: ``max_output_tokens`` ``"inf"``, and its bound."""

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionConfig:
        """Defaults for a new session."""
        return cls(
            instructions=settings.instructions,
            voice=settings.voice,
            voices=(settings.voice,),
            turn_detection=TurnDetection(
                threshold=settings.vad_threshold,
                silence_duration_ms=settings.vad_silence_duration_ms,
                prefix_padding_ms=settings.vad_prefix_padding_ms,
                type=settings.turn_detection,
                eagerness=settings.vad_eagerness,
            ),
            max_output_tokens=settings.llm_max_tokens,
            temperature=settings.llm_temperature,
            history_tokens=settings.llm_history_tokens
            or (512 if settings.llm == "llama" else 8000),
        )

    @property
    def create_response_on_commit(self) -> bool:
        """Manual commits answer only under server VAD; without it the client asks."""
        return self.turn_detection is not None and self.turn_detection.create_response

    def update(self, session: dict[str, Any]) -> None:
        """Apply a ``session.update`` payload whole, or refuse it and change nothing."""
        updated = copy.deepcopy(self)
        updated._apply(session)
        self.__dict__.update(updated.__dict__)

    def cap_output_tokens(self, context_window: int) -> None:
        """Bound replies by what the model's context holds besides the prompt.

        The prompt takes the history budget and room for instructions; the rest may be reply.
        """
        room = context_window - self.history_tokens - INSTRUCTIONS_ROOM
        self.output_tokens_cap = max(1, min(checks.MAX_OUTPUT_TOKENS, room))
        self.max_output_tokens = min(self.max_output_tokens, self.output_tokens_cap)

    def _apply(self, session: dict[str, Any]) -> None:
        if session.get("type") not in (None, "realtime"):
            raise ProtocolError(
                "only 'realtime' sessions are supported", code="invalid_value", param="session.type"
            )
        if (value := session.get("truncation")) is not None:
            self.truncation = Truncation.parse(value)
        tools = self.tools
        if "tools" in session:
            tools = check_tools(session["tools"] or [], param="session.tools")
        choice = session.get("tool_choice")
        if choice is None and isinstance(self.tool_choice, dict):
            # a forced function that the new tools no longer hold falls back to auto
            named = self.tool_choice["name"]
            choice = self.tool_choice if any(t["name"] == named for t in tools) else "auto"
        if choice is not None:
            self.tool_choice = check_tool_choice(choice, tools, param="session.tool_choice")
        self.tools = tools
        if (instructions := session.get("instructions")) is not None:
            self.instructions = instructions
        if (value := session.get("output_modalities")) is not None:
            self.output_modalities = checks.modalities(value, param="session.output_modalities")
        if (limit := session.get("max_output_tokens")) is not None:
            self.max_output_tokens = checks.max_output_tokens(
                limit, self.output_tokens_cap, param="session.max_output_tokens"
            )
        if (value := session.get("temperature")) is not None:
            self.temperature = checks.temperature(value, param="session.temperature")
        audio = session.get("audio") or {}
        audio_in, audio_out = audio.get("input") or {}, audio.get("output") or {}
        for key, part in (("input", audio_in), ("output", audio_out)):
            checks.audio_format(part.get("format"), param=f"session.audio.{key}.format")
        if (value := audio_out.get("voice")) is not None:
            self.voice = checks.voice(value, self.voices, param="session.audio.output.voice")
        if (value := audio_out.get("speed")) is not None:
            self.speed = checks.speed(value, param="session.audio.output.speed")
        if "turn_detection" in audio_in:
            self._update_turn_detection(audio_in["turn_detection"])
        if isinstance(transcription := audio_in.get("transcription"), dict):
            self.transcription_prompt = str(transcription.get("prompt") or "")

    def _update_turn_detection(self, td: dict[str, Any] | None) -> None:
        param = "session.audio.input.turn_detection"
        if td is None:
            self.turn_detection = None
            return
        if not isinstance(td, dict) or td.get("type") not in ("server_vad", "semantic_vad"):
            raise ProtocolError(
                "turn_detection must be null or of type 'server_vad' or 'semantic_vad'",
                code="unsupported_turn_detection",
                param=f"{param}.type",
            )
        if td.get("eagerness") not in (None, *EAGERNESS):
            raise ProtocolError(
                "eagerness must be 'low', 'medium', 'high' or 'auto'",
                code="invalid_value",
                param="session.audio.input.turn_detection.eagerness",
            )
        current = self.turn_detection or TurnDetection()
        fields = checks.server_vad(td, param=param)  # eagerness is checked above
        fields["type"] = td["type"]
        if td.get("eagerness") is not None:
            fields["eagerness"] = td["eagerness"]
        self.turn_detection = TurnDetection(**{**current.__dict__, **fields})

    def to_session(self) -> dict[str, Any]:
        """The GA ``session`` object for ``session.created`` and ``session.updated``."""
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": self.id,
            "model": self.model,
            "output_modalities": self.output_modalities,
            "instructions": self.instructions,
            "max_output_tokens": self.max_output_tokens,
            "tools": [dict(tool) for tool in self.tools],
            "tool_choice": self.tool_choice,
            "truncation": self.truncation.to_value(),
            "audio": {
                "input": {
                    "format": _PCM,
                    "transcription": {"model": "whisper-tiny.en"}
                    | ({"prompt": self.transcription_prompt} if self.transcription_prompt else {}),
                    "turn_detection": self.turn_detection.to_dict()
                    if self.turn_detection
                    else None,
                },
                "output": {"format": _PCM, "voice": self.voice, "speed": self.speed},
            },
        }


def check_tools(tools: list[Any], *, param: str) -> list[Tool]:
    """Function tools in the GA shape, each with a name and an object schema; else an error."""
    checked: list[Tool] = []
    for index, tool in enumerate(tools):
        where = f"{param}[{index}]"
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise ProtocolError(
                "the local engine takes function tools only: "
                '{"type": "function", "name": ..., "description": ..., "parameters": {...}}',
                code="invalid_tool",
                param=f"{where}.type",
            )
        name = tool.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise ProtocolError(
                f"tool name {name!r} must be 1-64 letters, digits, '_' or '-'",
                code="invalid_tool",
                param=f"{where}.name",
            )
        if any(other["name"] == name for other in checked):
            raise ProtocolError(
                f"two tools are named {name!r}; tool names must be unique",
                code="invalid_tool",
                param=f"{where}.name",
            )
        parameters = tool.get("parameters")
        if parameters is None:
            parameters = {"type": "object", "properties": {}}
        if not isinstance(parameters, dict) or parameters.get("type") != "object":
            raise ProtocolError(
                f"parameters of tool {name!r} must be a JSON schema of type 'object'",
                code="invalid_tool",
                param=f"{where}.parameters",
            )
        properties = parameters.get("properties", {})
        if not isinstance(properties, dict) or not all(
            isinstance(p, dict) for p in properties.values()
        ):
            raise ProtocolError(
                f"parameters.properties of tool {name!r} must map names to JSON schemas",
                code="invalid_tool",
                param=f"{where}.parameters.properties",
            )
        checked.append(
            {
                "type": "function",
                "name": name,
                "description": str(tool.get("description") or ""),
                "parameters": parameters,
            }
        )
    return checked


def check_tool_choice(choice: Any, tools: list[Tool], *, param: str) -> ToolChoice:
    """``auto`` / ``none`` / ``required``, or a function among ``tools``; else an error."""
    if choice in ("auto", "none", "required"):
        return str(choice)
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = choice.get("name")
        if not any(tool["name"] == name for tool in tools):
            raise ProtocolError(
                f"tool_choice names {name!r}, which is not among the session's tools",
                code="invalid_tool_choice",
                param=f"{param}.name",
            )
        return {"type": "function", "name": name}
    raise ProtocolError(
        "tool_choice must be 'auto', 'none', 'required' or {'type': 'function', 'name': ...}",
        code="invalid_tool_choice",
        param=param,
    )
