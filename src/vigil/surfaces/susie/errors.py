"""SUSIE's contract names status codes but no error body; Vigil answers
`{"status": "error", "code": ..., "message": ..., "field": ...}` (docs/susie.md)."""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from vigil.core.errors import VigilError
from vigil.web.errors import SurfaceRoute, status_for

CODES = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
}


def error_body(status: int, message: str, field: str | None) -> JSONResponse:
    body = {
        "status": "error",
        "code": CODES.get(status, "ERROR"),
        "message": message,
        "field": field,
    }
    return JSONResponse(body, status_code=status)


class SusieRoute(SurfaceRoute):
    def render_error(self, exc: VigilError) -> Response:
        return error_body(status_for(exc), exc.message, exc.field)

    def render_validation_error(self, exc: RequestValidationError) -> Response:
        first = exc.errors()[0]
        location = [str(part) for part in first.get("loc", ()) if part != "body"]
        field = ".".join(location) or None
        return error_body(400, f"{field or 'body'}: {first.get('msg', 'invalid')}", field)

    def render_http_error(self, exc: StarletteHTTPException) -> Response:
        return error_body(exc.status_code, str(exc.detail), None)
