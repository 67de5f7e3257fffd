"""A streaming multipart/form-data reader that keeps the parts in the order they arrived.

Frameworks collect a form into a dict (losing order) and spool files before the handler runs;
intake needs the order (SUSIE's contract makes it a rule) and the file as a stream.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypeAlias

from multipart import MultipartError, MultipartSegment, PushMultipartParser, parse_options_header
from starlette.requests import Request

from vigil.core.errors import InvalidInput, PayloadTooLarge

MAX_FIELD_BYTES = 256 * 1024
MAX_PARTS = 32


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None


# What the parser yields: a part's headers, a piece of its body, None where it ends; and
# FINISH (ours) once the body has ended after the closing boundary.
Event: TypeAlias = MultipartSegment | bytes | None
FINISH = object()


class StreamingForm:
    def __init__(self, request: Request) -> None:
        content_type, options = parse_options_header(request.headers.get("content-type", ""))
        boundary = options.get("boundary")
        if content_type != "multipart/form-data" or not boundary:
            raise InvalidInput("the body must be multipart/form-data with a boundary")
        self._body = request.stream()
        self._events: deque[Event | object] = deque()
        self._ended = False
        self._in_part = False
        self.parts_seen = 0
        try:
            self._parser = PushMultipartParser(boundary)
        except MultipartError as exc:
            raise InvalidInput("the multipart boundary is not valid") from exc

    async def _next_event(self) -> Event | object:
        while not self._events:
            chunk = await anext(self._body, b"")
            try:
                if chunk:
                    self._events.extend(self._parser.parse(chunk))
                else:
                    self._parser.close()
                    self._events.append(FINISH)
            except MultipartError as exc:
                if not chunk:
                    raise InvalidInput(
                        "the multipart body ended before its closing boundary"
                    ) from None
                # The parser's messages are fixed texts (no bytes of the body in them).
                raise InvalidInput(f"the multipart body is malformed: {exc}") from exc
        return self._events.popleft()

    async def next_part(self) -> Part | None:
        """Move to the next part (skipping what is left of the current one); None at the end."""
        while self._in_part:
            if await self._next_event() is None:
                self._in_part = False
        if self._ended:
            return None
        while True:
            event = await self._next_event()
            if event is FINISH:
                self._ended = True
                return None
            if isinstance(event, MultipartSegment):
                break
        self.parts_seen += 1
        if self.parts_seen > MAX_PARTS:
            raise InvalidInput(f"the form has more than {MAX_PARTS} parts")
        self._in_part = True
        if not event.name:
            raise InvalidInput("a multipart part has no form-data name")
        return Part(name=event.name, filename=event.filename, content_type=event.content_type)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The current part's bytes as they arrive."""
        while self._in_part:
            event = await self._next_event()
            if isinstance(event, bytes):
                yield event
            elif event is None:
                self._in_part = False

    async def read_field(self, name: str, limit: int = MAX_FIELD_BYTES) -> str:
        """The current part as text, at most `limit` bytes."""
        value = bytearray()
        async for data in self.chunks():
            value += data
            if len(value) > limit:
                raise PayloadTooLarge(f"field {name} is over {limit} bytes", field=name)
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"field {name} is not UTF-8 text", field=name) from exc
