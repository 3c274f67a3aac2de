"""Size limits on request bodies: refused with 413 before anything is parsed or stored."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

ATTACHMENT_OVERHEAD = 16 * 1024  # multipart boundaries and headers around the file


def body_limit(request: Request) -> int:
    settings = request.app.state.runtime.settings
    if request.url.path.startswith("/api/attachments"):
        return int(getattr(settings, "max_attachment_bytes", 10 << 20)) + ATTACHMENT_OVERHEAD
    return int(getattr(settings, "max_body_bytes", 64 << 10))


def too_large(request: Request, limit: int) -> Response:
    detail = f"request body larger than {limit} bytes"
    if request.url.path.startswith("/open311/"):
        return JSONResponse([{"code": 413, "description": detail}], status_code=413)
    return JSONResponse({"detail": detail}, status_code=413)


class LimitedRoute(APIRoute):
    """Checks Content-Length first, then counts what a chunked body really sends."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            if request.method in ("GET", "HEAD", "DELETE"):
                return await original(request)
            limit = body_limit(request)
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                return too_large(request, limit)
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    return too_large(request, limit)
            request._body = bytes(body)  # what request.body()/form() read from now on
            return await original(request)

        return handler
