"""Turning exceptions into responses. Each surface's route class says how its contract
spells an error; unexpected failures become a bare 500 with no internals."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from vigil.core.errors import (
    Conflict,
    InvalidInput,
    NotAvailable,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    Unauthenticated,
    VigilError,
)

log = structlog.get_logger("vigil.web")

DEFAULT_STATUS: list[tuple[type[VigilError], int]] = [
    (InvalidInput, 400),
    (Unauthenticated, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (PayloadTooLarge, 413),
    (NotAvailable, 423),
]


def status_for(exc: VigilError) -> int:
    for kind, status in DEFAULT_STATUS:
        if isinstance(exc, kind):
            return status
    return 400


class SurfaceRoute(APIRoute):
    """A route of one contract. Subclasses override how errors look on the wire."""

    def render_error(self, exc: VigilError) -> Response:
        status = status_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": exc.message}, status_code=status, headers=headers)

    def render_validation_error(self, exc: RequestValidationError) -> Response:
        return JSONResponse({"detail": jsonable_encoder(without_input(exc))}, status_code=422)

    def render_http_error(self, exc: StarletteHTTPException) -> Response:
        """Framework-raised errors (an unparsable body, say), in this contract's shape."""
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )


def without_input(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Validation errors minus the rejected value: it may be a password."""
    return [{k: v for k, v in error.items() if k != "input"} for error in exc.errors()]


_FALLBACK = SurfaceRoute("/", lambda: None)
_BY_PREFIX: dict[str, SurfaceRoute] = {}


def claim_prefix(prefix: str, route_class: type[SurfaceRoute]) -> None:
    """Errors on unmatched paths under `prefix` (a 404, say) take that contract's shape."""
    _BY_PREFIX[prefix] = route_class(prefix + "/", lambda: None)


def _route(request: Request) -> SurfaceRoute:
    route: Any = request.scope.get("route")
    if isinstance(route, SurfaceRoute):
        return route
    path = request.url.path
    for prefix, claimed in _BY_PREFIX.items():
        if path == prefix or path.startswith(prefix + "/"):
            return claimed
    return _FALLBACK


async def _on_vigil_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, VigilError)
    return _route(request).render_error(exc)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return _route(request).render_validation_error(exc)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return _route(request).render_http_error(exc)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    route: Any = request.scope.get("route")
    log.error("unhandled error", route=getattr(route, "path", None), exc_info=exc)
    internal = StarletteHTTPException(500, "internal error; the event was logged")
    return _route(request).render_http_error(internal)


_HANDLERS: list[tuple[type[Exception], Callable[[Request, Exception], Awaitable[Response]]]] = [
    (VigilError, _on_vigil_error),
    (RequestValidationError, _on_validation_error),
    (StarletteHTTPException, _on_http_error),
    (Exception, _on_unexpected),
]


def install_error_handlers(app: FastAPI) -> None:
    for kind, handler in _HANDLERS:
        app.add_exception_handler(kind, handler)


async def response_for_error(request: Request, exc: Exception) -> Response:
    """The response the handlers above give, for a request that bypassed the app's
    exception middleware (web/direct.py)."""
    handler = next(handler for kind, handler in _HANDLERS if isinstance(exc, kind))
    return await handler(request, exc)
