"""A streaming multipart/form-data reader that keeps the parts in the order they arrived.

Frameworks collect a form into a dict (losing order) and spool files before the handler runs;
intake needs the order (SUSIE's contract makes it a rule) and the file as a stream.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from vigil.core.errors import InvalidInput, PayloadTooLarge

MAX_FIELD_BYTES = 256 * 1024
MAX_PARTS = 32


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None


class StreamingForm:
    def __init__(self, request: Request) -> None:
        content_type, options = parse_options_header(request.headers.get("content-type", ""))
        boundary = options.get(b"boundary")
        if content_type != b"multipart/form-data" or not boundary:
            raise InvalidInput("the body must be multipart/form-data with a boundary")
        self._body = request.stream()
        self._events: deque[tuple[str, bytes, dict[bytes, bytes]]] = deque()
        self._headers: dict[bytes, bytes] = {}
        self._header_field = b""
        self._header_value = b""
        self._ended = False
        self._in_part = False
        self.parts_seen = 0
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._on_part_begin,
                "on_part_data": self._on_part_data,
                "on_part_end": lambda: self._events.append(("end", b"", {})),
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                # The parser may run ahead into later parts: each event carries its own headers.
                "on_headers_finished": lambda: self._events.append(("headers", b"", self._headers)),
                "on_end": lambda: self._events.append(("finish", b"", {})),
            },
        )

    # -- parser callbacks ------------------------------------------------------------------
    def _on_part_begin(self) -> None:
        self._headers = {}

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(("data", bytes(data[start:end]), {}))

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = self._header_value = b""

    # -- reading -----------------------------------------------------------------------------
    async def _next_event(self) -> tuple[str, bytes, dict[bytes, bytes]]:
        while not self._events:
            try:
                chunk = await anext(self._body)
            except StopAsyncIteration:
                raise InvalidInput("the multipart body ended before its closing boundary") from None
            try:
                self._parser.write(chunk)
            except MultipartParseError as exc:
                raise InvalidInput("the multipart body is malformed") from exc
        return self._events.popleft()

    async def next_part(self) -> Part | None:
        """Move to the next part (skipping what is left of the current one); None at the end."""
        while self._in_part:
            kind, _, _ = await self._next_event()
            if kind == "end":
                self._in_part = False
        if self._ended:
            return None
        while True:
            kind, _, headers = await self._next_event()
            if kind == "finish":
                self._ended = True
                return None
            if kind == "headers":
                break
        self.parts_seen += 1
        if self.parts_seen > MAX_PARTS:
            raise InvalidInput(f"the form has more than {MAX_PARTS} parts")
        self._in_part = True
        disposition, options = parse_options_header(headers.get(b"content-disposition", b""))
        name = options.get(b"name")
        if disposition != b"form-data" or name is None:
            raise InvalidInput("a multipart part has no form-data name")
        filename = options.get(b"filename")
        content_type = headers.get(b"content-type")
        return Part(
            name=name.decode("utf-8", "replace"),
            filename=filename.decode("utf-8", "replace") if filename is not None else None,
            content_type=content_type.decode("latin-1") if content_type else None,
        )

    async def chunks(self) -> AsyncIterator[bytes]:
        """The current part's bytes as they arrive."""
        while self._in_part:
            kind, data, _ = await self._next_event()
            if kind == "data":
                if data:
                    yield data
            elif kind == "end":
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
