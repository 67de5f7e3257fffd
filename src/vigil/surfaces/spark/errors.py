"""SparkProctoring's `handler.ErrorResponse`: `{"code": "NOT_FOUND", "error": "..."}`."""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

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


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"code": CODES[status], "error": message}, status_code=status)


class SparkRoute(SurfaceRoute):
    def render_error(self, exc: VigilError) -> Response:
        return error_response(status_for(exc), exc.message)

    def render_validation_error(self, exc: RequestValidationError) -> Response:
        first = exc.errors()[0]
        location = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
        return error_response(400, f"{location or 'request'}: {first.get('msg', 'invalid')}")
