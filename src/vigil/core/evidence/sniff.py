"""Content checks that run while bytes stream in: a wrong format is refused before it is kept."""

from __future__ import annotations

from typing import Protocol

from vigil import telemetry
from vigil.core.errors import InvalidInput

TS_PACKET = 188
TS_SYNC = 0x47
JPEG_MAGIC = b"\xff\xd8\xff"
EBML_MAGIC = b"\x1a\x45\xdf\xa3"


class ContentCheck(Protocol):
    def feed(self, chunk: bytes) -> None: ...

    def finish(self) -> None: ...


class MagicCheck:
    """The first bytes must be `magic`."""

    def __init__(self, magic: bytes, what: str, field: str = "file") -> None:
        self.magic, self.what, self.field = magic, what, field
        self.head = b""

    def feed(self, chunk: bytes) -> None:
        if len(self.head) >= len(self.magic):
            return
        self.head += chunk[: len(self.magic) - len(self.head)]
        if not self.magic.startswith(self.head[: len(self.magic)]):
            raise InvalidInput(f"{self.field} is not {self.what}", field=self.field)

    def finish(self) -> None:
        if self.head != self.magic:
            raise InvalidInput(f"{self.field} is not {self.what}", field=self.field)


def jpeg_check() -> MagicCheck:
    return MagicCheck(JPEG_MAGIC, "a JPEG image")


def webm_check() -> MagicCheck:
    return MagicCheck(EBML_MAGIC, "a WebM (EBML) file")


class MpegTsCheck:
    """Every 188-byte packet starts with the sync byte 0x47, and the length is whole packets."""

    def __init__(self, field: str = "file") -> None:
        self.offset = 0
        self.field = field

    def feed(self, chunk: bytes) -> None:
        first = (-self.offset) % TS_PACKET
        for position in range(first, len(chunk), TS_PACKET):
            if chunk[position] != TS_SYNC:
                raise InvalidInput(
                    f"{self.field} is not MPEG-TS: no sync byte at offset {self.offset + position}",
                    field=self.field,
                )
        self.offset += len(chunk)

    def finish(self) -> None:
        if self.offset == 0 or self.offset % TS_PACKET:
            raise InvalidInput(
                f"{self.field} is not MPEG-TS: {self.offset} bytes is not a whole number "
                f"of {TS_PACKET}-byte packets",
                field=self.field,
            )


def is_mpegts(head: bytes) -> bool:
    packets = len(head) // TS_PACKET
    return packets > 0 and all(head[i * TS_PACKET] == TS_SYNC for i in range(min(packets, 4)))


def is_telemetry(head: bytes) -> bool:
    return telemetry.looks_like_telemetry(head)
