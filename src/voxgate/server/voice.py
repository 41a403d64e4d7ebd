"""Record-and-send, the older flow beside live voice: ``/api/voice/transcribe|chat|tts|turn``.

A client posts a recorded clip (multipart ``file``) or a text and gets the transcript, the
agent's reply and its audio back in one answer. The turn happens in a session opened through
the gateway like any other (``conversation_id`` is its id: a live client of that id shares the
conversation), driven by ``transports.record``. Clips are decoded whole, off the event loop,
before anything reaches the session (``voxgate.audio_files``). Every refusal is an HTTP 4xx in
OpenAI's error shape; ``record_and_send_enabled`` off (or the feature kept from the caller's
role): 404.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.exceptions import HTTPException

from voxgate.affinity import new_session_id
from voxgate.audio_files import AudioFileError, decode_clip, wav_bytes, wav_header
from voxgate.protocol import Event, ProtocolError
from voxgate.server.auth import APIError, Grant
from voxgate.server.gateway import Gateway, GatewayDep, allow
from voxgate.server.sessions import minted_config, starting_agent
from voxgate.session import AgentFactory, Session
from voxgate.transports.messages import SESSION_ID, SESSION_ID_RULE
from voxgate.transports.record import Recorder, RecordError
from voxgate.wire import WireLimits, loads

log = logging.getLogger(__name__)

FORM_OVERHEAD_BYTES = 64 * 1024
"""What a multipart body may hold besides its clip (boundaries, the other fields)."""
UPLOAD_PATHS = ("/api/voice/transcribe", "/api/voice/turn")
CLIP_STATUS = {
    "unsupported_audio_format": 415,
    "invalid_audio_file": 400,
    "audio_too_long": 413,
    "no_audio": 422,
    "silent_audio": 422,
}
MEDIA_TYPES = {"wav": "audio/wav", "pcm": "audio/pcm;rate=24000"}


RecordDep = Annotated[Grant, Depends(allow("live", feature="record_and_send"))]
"""A caller of record-and-send: route group ``live``, feature ``record_and_send`` (404 while
``record_and_send_enabled`` is off, or for a role ``feature_roles`` keeps it from)."""

router = APIRouter(prefix="/api/voice")


class ChatRequest(BaseModel):
    """A typed user turn."""

    model_config = ConfigDict(extra="forbid")
    text: str
    conversation_id: str | None = None
    agent: str | None = None


class SpeechRequest(BaseModel):
    """Text to speak in the server's voice."""

    model_config = ConfigDict(extra="forbid")
    text: str
    voice: str | None = None
    format: Literal["wav", "pcm"] = "wav"


@router.post("/transcribe")
async def transcribe(request: Request, gateway: GatewayDep, grant: RecordDep) -> dict[str, Any]:
    """A recorded clip (multipart ``file``) → ``{"text"}``, in a one-off session of its own."""
    data, _ = await _read_form(request, gateway)
    pcm = await _decode(data, gateway)
    _needs_models(gateway)
    no_turns = {"audio": {"input": {"turn_detection": None}}}
    session_id = new_session_id()
    session = await gateway.open_session(
        request, grant, session_id, transport="voice", config=no_turns, private=True
    )
    async with _conversation(gateway, session, keep=False) as recorder:
        await recorder.configure(audio_input=True, modalities=None)
        _, text = await recorder.transcribe(pcm)
    return {"text": text}


@router.post("/chat")
async def chat(request: Request, gateway: GatewayDep, grant: RecordDep) -> dict[str, Any]:
    """``{"text", "conversation_id"?, "agent"?}`` → the agent's reply, after any tool calls."""
    body = await _read_json(request, gateway, ChatRequest)
    if not body.text.strip():
        raise APIError(422, "text is empty: say something", code="invalid_value", param="text")
    if len(body.text) > gateway.settings.max_item_text_chars:
        raise APIError(
            422,
            f"text is over {gateway.settings.max_item_text_chars} characters",
            code="text_too_long",
            param="text",
        )
    target = _target(gateway, grant, body.conversation_id, body.agent)
    _needs_models(gateway)
    session = await target.open(request, gateway, grant)
    async with _conversation(gateway, session) as recorder:
        await recorder.configure(audio_input=False, modalities=["text"])
        await recorder.say(body.text)
        reply = await recorder.reply()
    _check_reply(reply.status, reply.text)
    return {"conversation_id": session.id, "text": reply.text, "tool_calls": reply.tool_calls}


@router.post("/turn")
async def turn(request: Request, gateway: GatewayDep, grant: RecordDep) -> dict[str, Any]:
    """A recorded clip [+ ``conversation_id``, ``agent``] → transcript, reply text and audio.

    ``conversation_id`` may come in the URL's query instead of the form (``voxgate serve
    --workers`` routes by it there). The audio is a base64 WAV (PCM16 mono 24 kHz), null when
    the reply has none.
    """
    data, fields = await _read_form(request, gateway)
    conversation_id = fields.get("conversation_id")
    in_query = request.query_params.get("conversation_id")
    if in_query is not None and conversation_id not in (None, in_query):
        raise APIError(
            400,
            "conversation_id differs between the URL and the form: send it once",
            code="invalid_conversation_id",
        )
    target = _target(gateway, grant, in_query or conversation_id, fields.get("agent"))
    pcm = await _decode(data, gateway)
    _needs_models(gateway)
    session = await target.open(request, gateway, grant)
    async with _conversation(gateway, session) as recorder:
        await recorder.configure(audio_input=True, modalities=["audio"])
        _, transcript = await recorder.transcribe(pcm)
        reply = await recorder.reply()
    _check_reply(reply.status, reply.text or reply.audio)
    audio = base64.b64encode(wav_bytes(bytes(reply.audio))).decode() if reply.audio else None
    return {
        "conversation_id": session.id,
        "transcript": transcript,
        "text": reply.text,
        "audio": audio,
        "audio_format": "audio/wav",
        "tool_calls": reply.tool_calls,
    }


@router.post("/tts")
async def tts(request: Request, gateway: GatewayDep, grant: RecordDep) -> StreamingResponse:
    """``{"text", "voice"?, "format"?}`` → the server's voice, streamed as it is synthesized.

    ``format``: ``wav`` (a header for a stream of unknown length, then PCM16 mono 24 kHz) or
    ``pcm`` (the samples alone).
    """
    body = await _read_json(request, gateway, SpeechRequest)
    text = body.text.strip()
    limit = gateway.settings.tts_max_chars
    if not text:
        raise APIError(422, "text is empty: nothing to say", code="invalid_value", param="text")
    if len(text) > limit:
        raise APIError(
            422, f"text is over {limit} characters (tts_max_chars)", code="text_too_long"
        )
    if body.voice not in (None, gateway.speech.voice):
        raise APIError(
            400,
            f"unknown voice {body.voice!r}: this server speaks with {gateway.speech.voice!r}",
            code="unknown_voice",
            param="voice",
        )
    try:
        await gateway.speech.load()
    except Exception as exc:
        log.exception("the server's voice did not load")
        raise APIError(503, f"no voice to speak with: {exc}", code="tts_unavailable") from None
    return StreamingResponse(
        _speech(gateway, text, wav=body.format == "wav"), media_type=MEDIA_TYPES[body.format]
    )


async def _speech(gateway: Gateway, text: str, *, wav: bool) -> AsyncIterator[bytes]:
    if wav:
        yield wav_header(None)
    try:
        async for chunk in gateway.speech.speak(text):
            yield chunk
    except Exception:  # the status has gone out: the stream ends short
        log.exception("speaking %d characters failed", len(text))


# -- request bodies --------------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


async def _read_json(request: Request, gateway: Gateway, model: type[M]) -> M:
    """The JSON body as ``model``: 415 (not JSON), 400 (malformed), 422 (a field is wrong)."""
    if _content_type(request) != "application/json":
        raise APIError(
            415, "send a JSON body (Content-Type: application/json)", code="unsupported_media_type"
        )
    try:
        data = loads(await request.body(), WireLimits.from_settings(gateway.settings))
    except ProtocolError as exc:
        raise APIError(400, str(exc), code=exc.code) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "body"
        raise APIError(
            422, f"{where}: {error['msg']}", code="invalid_value", param=where or None
        ) from None


async def _read_form(request: Request, gateway: Gateway) -> tuple[bytes, dict[str, str]]:
    """The clip's bytes and the form's text fields."""
    settings = gateway.settings
    if _content_type(request) not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise APIError(
            415,
            "send multipart/form-data with the recording as the field 'file'",
            code="unsupported_media_type",
        )
    try:
        form = await request.form(max_files=1, max_fields=8)
    except HTTPException as exc:  # a malformed body (400), or one over the limit (413)
        code = "request_too_large" if exc.status_code == 413 else "invalid_multipart"
        raise APIError(exc.status_code, str(exc.detail), code=code) from None
    try:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise APIError(
                400, "the recording is missing: send it as the file field 'file'", code="no_file"
            )
        if upload.size is not None and upload.size > settings.record_max_upload_bytes:
            raise _too_large(settings.record_max_upload_bytes)
        data = await upload.read()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    finally:
        await form.close()
    if not data:
        raise APIError(400, "the recording is empty (0 bytes)", code="empty_file", param="file")
    if len(data) > settings.record_max_upload_bytes:
        raise _too_large(settings.record_max_upload_bytes)
    return data, fields


async def _decode(data: bytes, gateway: Gateway) -> bytes:
    """The clip as PCM16 24 kHz, decoded whole in a worker thread."""
    max_seconds = gateway.settings.record_max_seconds
    try:
        return await asyncio.to_thread(decode_clip, data, max_seconds=max_seconds)
    except AudioFileError as exc:
        raise APIError(CLIP_STATUS[exc.code], str(exc), code=exc.code, param="file") from None


def _too_large(limit: int) -> APIError:
    return APIError(
        413,
        f"the recording is over {limit} bytes (record_max_upload_bytes): send a shorter one",
        code="file_too_large",
        param="file",
    )


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


# -- the conversation ------------------------------------------------------------------------


def _needs_models(gateway: Gateway) -> None:
    if gateway.settings.engine == "loopback":
        raise APIError(
            503,
            "engine loopback only echoes audio: it has no speech recognition or language model "
            "for record-and-send (/api/voice/tts works)",
            code="engine_unsupported",
        )


@dataclass(frozen=True)
class _Target:
    """The conversation a request names, checked before any work: the id, the key's right."""

    session_id: str
    agent: AgentFactory | None
    config: Event | None
    agent_name: str | None = None

    async def open(self, request: Request, gateway: Gateway, grant: Grant) -> Session:
        """The conversation's session: joined if live, else created with the agent.

        A new one resumes the stored conversation of its id.
        """
        return await gateway.open_session(
            request,
            grant,
            self.session_id,
            transport="voice",
            agent=self.agent,
            agent_name=self.agent_name,
            config=self.config,
        )


def _target(
    gateway: Gateway, grant: Grant, conversation_id: str | None, agent: str | None
) -> _Target:
    if conversation_id is not None and not SESSION_ID.match(conversation_id):
        raise APIError(400, f"conversation_id: {SESSION_ID_RULE}", code="invalid_conversation_id")
    session_id = conversation_id or grant.session_id or new_session_id()
    gateway.rights.check(grant, session_id, gateway.registry.get(session_id))
    try:
        starting = starting_agent(gateway, grant, agent, session_id)
    except ValueError as exc:
        raise APIError(400, str(exc), code="unknown_agent", param="agent") from None
    try:
        config = minted_config(grant)
    except ProtocolError as exc:
        raise APIError(400, str(exc), code=exc.code, param=exc.param) from None
    return _Target(session_id, starting, config, agent)


@asynccontextmanager
async def _conversation(
    gateway: Gateway, session: Session, *, keep: bool = True
) -> AsyncIterator[Recorder]:
    """One request's turn in ``session``, within ``record_timeout_s``; errors as HTTP ones."""
    timeout = gateway.settings.record_timeout_s
    try:
        async with gateway.conversations.turn(session, keep=keep, wait_s=timeout) as recorder:
            try:
                async with asyncio.timeout(timeout):
                    yield recorder
            except TimeoutError:
                await recorder.cancel()
                raise RecordError(
                    504,
                    f"no answer within {timeout:g} s (record_timeout_s): the engine or a tool "
                    "is too slow",
                    code="timeout",
                ) from None
    except RecordError as exc:
        raise APIError(exc.status, str(exc), code=exc.code) from None


def _check_reply(status: str, said: object) -> None:
    if status == "failed" and not said:
        raise APIError(502, "the agent's reply failed", code="reply_failed")
