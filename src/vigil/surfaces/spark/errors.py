"""SparkProctoring's `handler.ErrorResponse`: `{"code": "NOT_FOUND", "error": "..."}`."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from vigil.core.errors import VigilError
from vigil.web.errors import SurfaceRoute, status_for

CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    500: "INTERNAL_ERROR",
}


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = {"code": CODES.get(status, "ERROR"), "error": message}
    return JSONResponse(body, status_code=status, headers=headers)


class SparkRoute(SurfaceRoute):
    def render_error(self, exc: VigilError) -> Response:
        return error_response(status_for(exc), exc.message)

    def render_validation_error(self, exc: RequestValidationError) -> Response:
        first = exc.errors()[0]
        location = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
        return error_response(400, f"{location or 'request'}: {first.get('msg', 'invalid')}")

    def render_http_error(self, exc: StarletteHTTPException) -> Response:
        return error_response(exc.status_code, str(exc.detail), exc.headers)
