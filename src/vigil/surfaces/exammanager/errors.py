"""ExamManager's error bodies: `ErrorsResponse` (`errors: {field: message}`) when the
request is wrong or contradicts what is stored (400, 409), `BadResponse` (`exceptionType`,
`message`, an always-empty `stackTrace`) for everything else."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from vigil.core.errors import ConflictingFields, InvalidFields, PayloadTooLarge, VigilError
from vigil.core.tasks.vms import LabUnavailable
from vigil.web.deps import runtime_of
from vigil.web.errors import SurfaceRoute, status_for

ERRORS_RESPONSE_STATUSES = {400, 409}
FRAMEWORK_EXCEPTIONS = {
    401: "Unauthenticated",
    403: "PermissionDenied",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
    500: "InternalError",
}


def status_name(code: int) -> str:
    """The .NET `HttpStatusCode` name the original server sent: "OK", "BadRequest", ..."""
    try:
        return HTTPStatus(code).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        return str(code)


def errors_response(code: int, errors: dict[str, str]) -> JSONResponse:
    body = {"type": "ErrorsResponse", "status": status_name(code), "errors": errors}
    return JSONResponse(body, status_code=code)


def bad_response(code: int, exception_type: str, message: str) -> JSONResponse:
    body = {
        "type": "BadResponse",
        "status": status_name(code),
        "exceptionType": exception_type,
        "message": message,
        "stackTrace": "",
    }
    headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
    return JSONResponse(body, status_code=code, headers=headers)


def field_name(location: tuple[int | str, ...]) -> str:
    """("body", "users", 0, "login") → "users[0].login"."""
    name = ""
    for part in location:
        if part in ("body", "query", "path") and not name:
            continue
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "request"


async def read_within(request: Request, limit: int) -> None:
    """Read the body before FastAPI parses it, refusing one over `VIGIL_MAX_JSON_BYTES`
    (413) instead of holding any size in memory; the handler then reads the cached copy."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the body is over {limit} bytes")
    request._body = bytes(body)  # Starlette's cache: request.body() and stream() return it


NOT_AN_OBJECT = {"model_attributes_type", "dict_type", "model_type"}


def validation_message(error: Any) -> tuple[str, str]:
    """(field, message) for one of pydantic's errors, said the way the client needs it."""
    location = tuple(error.get("loc", ()))
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "")
        at = f" at character {location[-1]}" if location and isinstance(location[-1], int) else ""
        return "request", f"the body is not valid JSON{at}: {reason}".rstrip(": ")
    if location in (("body",), ()) and error.get("type") in NOT_AN_OBJECT:
        return "request", "the body must be a JSON object, sent as Content-Type: application/json"
    return field_name(location), str(error.get("msg", "invalid"))


class ExamManagerRoute(SurfaceRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["response_model_exclude_none"] = True  # a field without a value is left out
        kwargs["strict_content_type"] = False  # a JSON body sent without Content-Type is read
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def within_limit(request: Request) -> Response:
            await read_within(request, runtime_of(request).settings.max_json_bytes)
            return await handle(request)

        return within_limit

    def render_error(self, exc: VigilError) -> Response:
        if isinstance(exc, LabUnavailable):
            return bad_response(503, "NoHypervisorConfigured", exc.message)
        code = status_for(exc)
        if isinstance(exc, InvalidFields | ConflictingFields):
            return errors_response(code, exc.errors)
        if code in ERRORS_RESPONSE_STATUSES:
            return errors_response(code, {exc.field or "request": exc.message})
        return bad_response(code, type(exc).__name__, exc.message)

    def render_validation_error(self, exc: RequestValidationError) -> Response:
        errors: dict[str, str] = {}
        for error in exc.errors():
            field, message = validation_message(error)
            errors.setdefault(field, message)
        return errors_response(400, errors)

    def render_http_error(self, exc: StarletteHTTPException) -> Response:
        code = exc.status_code
        if code in ERRORS_RESPONSE_STATUSES:
            return errors_response(code, {"request": str(exc.detail)})
        kind = FRAMEWORK_EXCEPTIONS.get(code, "HttpError")
        return bad_response(code, kind, str(exc.detail))
