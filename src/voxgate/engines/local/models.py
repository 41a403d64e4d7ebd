"""The local engine's components, loaded once per process and shared by every session."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from voxgate.components.llm import LanguageModel
from voxgate.components.priority import Foreground, one_blas_thread
from voxgate.components.stt import SpeechToText
from voxgate.components.tts import TextToSpeech
from voxgate.components.turn import EndOfTurnModel
from voxgate.components.vad import VoiceActivityDetector
from voxgate.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalModels:
    """Shared models; ``new_vad`` makes the small per-stream detector each session needs.

    Transcription and synthesis run under ``foreground`` so that token generation yields to them.
    ``turn`` (None when its model is not installed) judges whether the user finished a thought.
    ``offline``: every model runs in this process, so a reply costs nothing (False with a
    remote chat endpoint, whose price voxgate does not know).
    """

    new_vad: Callable[[], VoiceActivityDetector]
    stt: SpeechToText
    llm: LanguageModel
    tts: TextToSpeech
    foreground: Foreground = field(default_factory=Foreground)
    turn: EndOfTurnModel | None = None
    offline: bool = True

    def transcribe(self, pcm16: bytes, prompt: str = "") -> str:
        """The transcript of an utterance, in the foreground (blocking: call it in a thread)."""
        with self.foreground.hold():
            return self.stt.transcribe(pcm16, prompt=prompt)

    def end_of_turn(self, pcm16: bytes) -> float:
        """How likely the utterance ends a turn, in the foreground (blocking)."""
        assert self.turn is not None
        with self.foreground.hold():
            return self.turn.probability(pcm16)


def load_models(settings: Settings) -> LocalModels:
    """Load the configured components (a few seconds; call once at start-up)."""
    from voxgate.components.stt.whisper import WhisperSTT
    from voxgate.components.tts.piper import PiperTTS
    from voxgate.components.vad.silero import SileroVAD

    one_blas_thread()
    foreground = Foreground()
    llm: LanguageModel
    if settings.llm == "openai":
        from voxgate.components.llm.openai_chat import OpenAIChatLLM

        llm = OpenAIChatLLM(
            base_url=settings.llm_base_url, api_key=settings.llm_api_key, model=settings.llm_model
        )
    else:
        from voxgate.components.llm.llama import LlamaLLM

        llm = LlamaLLM(
            settings.llm_model_path,
            n_threads=settings.llm_threads,
            foreground=foreground,
            prompt_cache_mb=settings.llm_prompt_cache_mb,
        )
        llm.warm(settings.instructions)
    stt = WhisperSTT(cpu_threads=settings.stt_threads)
    tts = PiperTTS()
    # the first call of each runtime sets itself up: pay that here, not in the first turn
    stt.transcribe(b"\0\0" * stt.sample_rate)
    for _ in tts.synthesize("Hello."):
        pass
    return LocalModels(
        new_vad=SileroVAD,
        stt=stt,
        llm=llm,
        tts=tts,
        foreground=foreground,
        turn=_turn_model(),
        offline=settings.llm == "llama",
    )


def _turn_model() -> EndOfTurnModel | None:
    """Smart Turn if its model is installed; without it ``semantic_vad`` works as server VAD."""
    from voxgate.components.turn.smart_turn import INSTALL_HINT, SmartTurn, bundled_model

    if bundled_model() is None:
        log.warning("semantic_vad ends turns as server_vad does: %s", INSTALL_HINT)
        return None
    turn = SmartTurn()
    turn.probability(b"\0\0" * turn.sample_rate)  # its first call sets itself up
    return turn
