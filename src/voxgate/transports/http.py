"""HTTP request bodies, bounded: the JSON routes' counterpart of ``voxgate.wire``.

``BodyLimit`` refuses a body over ``max_bytes`` (413) before a route reads it, whether it says
its length or streams; routes that take files (record-and-send's clips) have limits of their
own. ``recursion_error_handler`` is the backstop for JSON nested past what Python's parser can
take, which a route parsing its own body would otherwise answer with 500; routes that parse JSON
themselves use ``voxgate.wire.loads``, which refuses it sooner.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """A request body over the limit; FastAPI and Starlette answer it with 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body is over the {max_bytes}-byte limit")


class BodyLimit:
    """ASGI middleware: HTTP request bodies of at most ``max_bytes`` (``by_path``: a path's own)."""

    def __init__(self, app: ASGIApp, max_bytes: int, by_path: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.by_path = by_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a declared length over the limit at once; count a streamed body as it comes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.by_path.get(scope["path"], self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0

        async def bounded() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, bounded, send)


def _too_large(max_bytes: int) -> JSONResponse:
    return _error(413, str(BodyTooLarge(max_bytes).detail), code="request_too_large")


def _error(status: int, message: str, *, code: str) -> JSONResponse:
    body = {"message": message, "type": "invalid_request_error", "code": code, "param": None}
    return JSONResponse({"error": body}, status_code=status)


async def recursion_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Exception handler: a body nested too deeply to parse is the client's error (400)."""
    return _error(400, "the request body nests arrays and objects too deeply", code="json_too_deep")
