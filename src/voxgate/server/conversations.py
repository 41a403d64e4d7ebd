"""The history API: the conversations the store keeps, listed, read, exported and deleted.

``GET /api/conversations`` lists the caller's own (an admin's: everyone's), the latest first,
paged by ``cursor`` (``next_cursor`` of the page before) or ``offset``, filtered by ``q`` (text
in the title or any item, case-insensitive). ``GET /api/conversations/{id}`` is one with its
items in order; ``/export?format=json|text`` the same as a download; ``DELETE`` removes it.
A conversation the caller may not see is a 404, as one that does not exist (the API does not
say which ids exist); a viewer, or an ephemeral key, may read but not delete (403). An
ephemeral key sees only its own session's conversation.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from voxgate.server.access import owns
from voxgate.server.auth import APIError, Grant
from voxgate.server.gateway import Gateway, GatewayDep, HistoryDep
from voxgate.store.conversations import BadCursor
from voxgate.store.items import transcript_line
from voxgate.store.records import ConversationInfo, StoredConversation
from voxgate.transports.messages import SESSION_ID

router = APIRouter()
FLUSH_S = 1.0
"""How long a read waits for a live conversation's latest writes."""


def _visible(grant: Grant, info: ConversationInfo) -> bool:
    if grant.kind == "client_secret" and info.id != grant.session_id:
        return False
    return owns(grant, info.user_id)


def _not_found(conversation_id: str) -> APIError:
    return APIError(
        404,
        f"no conversation {conversation_id!r} among yours; GET /api/conversations lists them",
        code="conversation_not_found",
    )


def _unavailable() -> APIError:
    return APIError(
        503,
        "the store is unavailable right now; try again shortly",
        code="store_unavailable",
        type_="server_error",
    )


async def _conversation(gateway: Gateway, grant: Grant, conversation_id: str) -> StoredConversation:
    """The conversation with its items, or a 404 (unknown, malformed, or not the caller's)."""
    if not SESSION_ID.match(conversation_id):
        raise _not_found(conversation_id)
    try:
        if gateway.recorder.waiting_for(conversation_id):  # a live one's latest words
            await gateway.recorder.flush(FLUSH_S)
        stored = await gateway.history.get(conversation_id)
    except Exception:
        raise _unavailable() from None
    if stored is None or not _visible(grant, stored.info):
        raise _not_found(conversation_id)
    return stored


def _live(gateway: Gateway, conversation_id: str) -> bool:
    return (
        gateway.recorder.live(conversation_id) is not None
        or gateway.registry.get(conversation_id) is not None
    )


@router.get("/api/conversations")
async def list_conversations(
    gateway: GatewayDep,
    grant: HistoryDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    offset: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """The caller's conversations (an admin's: everyone's), the latest first."""
    if cursor is not None and offset is not None:
        raise APIError(
            400,
            "page with 'cursor' or with 'offset', not both",
            code="invalid_value",
            param="offset",
        )
    try:
        page = await gateway.history.page(
            user_id=grant.user_id,
            everyone=grant.role == "admin",
            only=grant.session_id if grant.kind == "client_secret" else None,
            limit=limit,
            cursor=cursor,
            offset=offset,
            query=q or None,
        )
    except BadCursor as exc:
        raise APIError(400, str(exc), code="invalid_value", param="cursor") from None
    except Exception:
        raise _unavailable() from None
    data = [
        {**info.to_json(), "live": _live(gateway, info.id)}
        for info in page.conversations
        if _visible(grant, info)
    ]
    return {
        "object": "list",
        "data": data,
        "has_more": page.has_more,
        "next_cursor": page.next_cursor,
    }


@router.get("/api/conversations/{conversation_id}")
async def get_conversation(
    conversation_id: str, gateway: GatewayDep, grant: HistoryDep
) -> dict[str, Any]:
    """One conversation: its metadata and its items in order."""
    stored = await _conversation(gateway, grant, conversation_id)
    return {
        **stored.info.to_json(),
        "live": _live(gateway, conversation_id),
        "items": [item.to_json() for item in stored.items],
    }


@router.get("/api/conversations/{conversation_id}/export")
async def export_conversation(
    conversation_id: str,
    gateway: GatewayDep,
    grant: HistoryDep,
    format: Literal["json", "text"] = "json",
) -> Response:
    """The conversation as a download: JSON (metadata, items, turn metrics) or plain text."""
    stored = await _conversation(gateway, grant, conversation_id)
    filename = f"{conversation_id}.{'json' if format == 'json' else 'txt'}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if format == "text":
        lines = [transcript_line(i.type, i.role, i.text) for i in stored.items]
        text = "\n".join(line for line in lines if line) + "\n"
        return Response(text, media_type="text/plain; charset=utf-8", headers=headers)
    try:
        metrics = await gateway.history.metrics(conversation_id)
    except Exception:
        raise _unavailable() from None
    body = {
        "conversation": stored.info.to_json(),
        "items": [item.to_json() for item in stored.items],
        "metrics": metrics,
    }
    return Response(
        json.dumps(body, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers=headers,
    )


@router.delete("/api/conversations/{conversation_id}", status_code=204)
async def delete_conversation(
    conversation_id: str, gateway: GatewayDep, grant: HistoryDep
) -> Response:
    """Delete a conversation with its items and metrics (not while a session holds it)."""
    if grant.kind == "client_secret" or grant.role == "viewer":
        raise APIError(
            403,
            "a viewer or an ephemeral key may read conversations, not delete them",
            code="insufficient_permissions",
        )
    await _conversation(gateway, grant, conversation_id)
    if _live(gateway, conversation_id):
        raise APIError(
            409,
            f"conversation {conversation_id!r} is live: its session must end before it is deleted",
            code="conversation_live",
        )
    try:
        await gateway.history.delete(conversation_id)
    except Exception:
        raise _unavailable() from None
    return Response(status_code=204)
