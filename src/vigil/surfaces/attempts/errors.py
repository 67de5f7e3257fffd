"""The exam-attempts contract's error body: `{"code": ..., "message": ...}`, plus `field`
when one field is to blame, and `attempt` when a stale autosave is refused
(docs/exam-attempts.md, "Errors")."""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from vigil.core.attempts.service import AttemptExists, StaleWrite
from vigil.core.attempts.statuses import AttemptFinished
from vigil.core.errors import NotAvailable, NotFound, VigilError
from vigil.web.errors import SurfaceRoute, status_for

HTTP_CODES = {
    400: "INVALID_PAYLOAD",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    423: "EXAM_NOT_PUBLISHED",
    500: "INTERNAL_ERROR",
}
NOT_FOUND_CODES = {"examId": "EXAM_NOT_FOUND", "attemptId": "ATTEMPT_NOT_FOUND"}
NOT_AVAILABLE_CODES = {"startTime": "EXAM_NOT_OPEN", "endTime": "EXAM_CLOSED"}


def code_for(exc: VigilError, status: int) -> str:
    if isinstance(exc, NotFound) and exc.field in NOT_FOUND_CODES:
        return NOT_FOUND_CODES[exc.field]
    if isinstance(exc, NotAvailable):
        return NOT_AVAILABLE_CODES.get(exc.field or "", "EXAM_NOT_PUBLISHED")
    if isinstance(exc, AttemptExists):
        return "ATTEMPT_EXISTS"
    if isinstance(exc, AttemptFinished):
        return "ATTEMPT_FINISHED"
    if isinstance(exc, StaleWrite):
        return "STALE_UPDATE"
    return HTTP_CODES.get(status, "ERROR")


def error_body(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update({key: value for key, value in extra.items() if value is not None})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


class AttemptsRoute(SurfaceRoute):
    def render_error(self, exc: VigilError) -> Response:
        status = status_for(exc)
        current = exc.current if isinstance(exc, StaleWrite) else None
        return error_body(
            status, code_for(exc, status), exc.message, field=exc.field, attempt=current
        )

    def render_validation_error(self, exc: RequestValidationError) -> Response:
        first = exc.errors()[0]
        location = [str(part) for part in first.get("loc", ()) if part != "body"]
        field = ".".join(location) or None
        message = f"{field or 'body'}: {first.get('msg', 'invalid')}"
        return error_body(400, "INVALID_PAYLOAD", message, field=field)

    def render_http_error(self, exc: StarletteHTTPException) -> Response:
        status = exc.status_code
        return error_body(status, HTTP_CODES.get(status, "ERROR"), str(exc.detail))
