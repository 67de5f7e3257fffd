"""Small request-body helpers shared by the surfaces."""

from __future__ import annotations

from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from vigil.core.errors import InvalidInput, PayloadTooLarge

M = TypeVar("M", bound=BaseModel)


def invalid_from(exc: ValidationError, prefix: str = "") -> InvalidInput:
    """The first validation problem as an InvalidInput that names the field."""
    first = exc.errors()[0]
    location = ".".join(str(part) for part in first.get("loc", ()))
    field = ".".join(part for part in (prefix, location) if part) or prefix or None
    return InvalidInput(f"{field or 'body'}: {first.get('msg', 'invalid')}", field=field)


def parse_json(model: type[M], text: str | bytes, field: str = "") -> M:
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        raise invalid_from(exc, field) from exc


async def read_json(request: Request, model: type[M], limit: int) -> M:
    """A JSON body whatever its Content-Type: sendBeacon posts JSON as text/plain."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the body is over {limit} bytes")
    return parse_json(model, bytes(body))


def json_request_body(model: type[BaseModel]) -> dict[str, object]:
    """`openapi_extra` documenting a body that `read_json` parses by hand."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema(by_alias=True)}},
        }
    }
