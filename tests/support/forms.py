"""multipart/form-data bodies with the parts in exactly the order given (httpx reorders)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    name: str
    value: bytes | str
    filename: str | None = None
    content_type: str | None = None


def multipart(*fields: Field) -> tuple[bytes, dict[str, str]]:
    boundary = uuid.uuid4().hex
    body = bytearray()
    for field in fields:
        body += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{field.name}"'
        if field.filename is not None:
            disposition += f'; filename="{field.filename}"'
        body += f"Content-Disposition: {disposition}\r\n".encode()
        if field.content_type:
            body += f"Content-Type: {field.content_type}\r\n".encode()
        body += b"\r\n"
        body += field.value.encode() if isinstance(field.value, str) else field.value
        body += b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return bytes(body), {"Content-Type": f"multipart/form-data; boundary={boundary}"}
