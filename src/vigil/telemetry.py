"""SparkProctoring telemetry chunks (`.bin`): Vigil's documented wire format.

A chunk is a 36-byte header followed by AES-256-GCM ciphertext (with its 16-byte tag) of a
plaintext that is a run of typed, timestamped blocks. The associated data binds the chunk to
the (session_id, chunk_idx) the *decoder* expects, so a chunk replayed into another session or
another chunk slot fails authentication. The byte-level description, limits and test vectors
are in docs/telemetry-format.md; keep the two in step.

Pure functions, no I/O. Per-session keys are created here (`new_key`) but stored, wrapped by the
server master key and handed to agents elsewhere.

Errors: a malformed, oversized or unauthenticated chunk, and a block `encode_chunk` cannot
represent, raise `TelemetryError` (a `ValueError`) whose message is safe to show a client.
A key of the wrong type or length, or a bad `_nonce`, is the caller's bug and raises a plain
`ValueError`.
"""

from __future__ import annotations

import json
import math
import os
import struct
import zlib
from collections.abc import Mapping
from enum import IntEnum
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "EVENT_NAMES",
    "FLAG_ZLIB",
    "HEADER_SIZE",
    "HOST_INFO_KINDS",
    "KEY_SIZE",
    "MAGIC",
    "MAX_BLOCKS",
    "MAX_CHUNK_BYTES",
    "MAX_JSON_BYTES_PER_BLOCK",
    "MAX_JSON_BYTES_PER_CHUNK",
    "MAX_JSON_DEPTH",
    "MAX_PLAINTEXT_BYTES",
    "NONCE_SIZE",
    "TAG_SIZE",
    "VERSION",
    "BlockType",
    "TelemetryError",
    "decode_chunk",
    "encode_chunk",
    "looks_like_telemetry",
    "new_key",
]

MAGIC: Final = b"VGTL"
VERSION: Final = 1
SUPPORTED_VERSIONS: Final = frozenset({VERSION})

FLAG_ZLIB: Final = 0x01
KNOWN_FLAGS: Final = FLAG_ZLIB

KEY_SIZE: Final = 32
NONCE_SIZE: Final = 12
TAG_SIZE: Final = 16

# magic(4) version(u8) flags(u8) reserved(u16) session_id(u64) chunk_idx(u64) nonce(12)
_HEADER: Final = struct.Struct(">4sBBHQQ12s")
HEADER_SIZE: Final = _HEADER.size  # 36
_AD: Final = struct.Struct(">4sBBHQQ")  # the header up to, not including, the nonce
AD_SIZE: Final = _AD.size  # 24

# type(u8) timestamp(i64, unix ms) payload length(u32)
_BLOCK: Final = struct.Struct(">BqI")
BLOCK_HEADER_SIZE: Final = _BLOCK.size  # 13

MAX_PLAINTEXT_BYTES: Final = 64 * 1024 * 1024
MAX_CHUNK_BYTES: Final = HEADER_SIZE + MAX_PLAINTEXT_BYTES + TAG_SIZE
MAX_BLOCKS: Final = 100_000
MAX_JSON_BYTES_PER_BLOCK: Final = 1024 * 1024
MAX_JSON_BYTES_PER_CHUNK: Final = 8 * 1024 * 1024
MAX_JSON_DEPTH: Final = 64

_U64_MAX: Final = 2**64 - 1
_I64_MIN: Final = -(2**63)
_I64_MAX: Final = 2**63 - 1


class BlockType(IntEnum):
    VIDEO = 0x01
    EVENT = 0x02
    SCREENSHOT = 0x03
    META = 0x04
    NETWORK = 0x05
    HOST_INFO = 0x06


_TYPE_BY_NAME: Final = {t.name.lower(): t for t in BlockType}
_BINARY_TYPES: Final = frozenset({BlockType.VIDEO, BlockType.SCREENSHOT})
_RESERVED_KEYS: Final = frozenset({"type", "timestamp"})

EVENT_NAMES: Final = frozenset(
    {"mouse", "keyboard", "dns_query", "network_stats", "app_switch", "clipboard", "device_change"}
)
HOST_INFO_KINDS: Final = frozenset({"full", "heartbeat"})


class TelemetryError(ValueError):
    """A chunk that is malformed, over a limit or not authentic, or a block that cannot be
    encoded. The message names what is wrong and is safe to show a client."""


def new_key() -> bytes:
    """A fresh random 32-byte AES-256-GCM key for one session."""
    return os.urandom(KEY_SIZE)


def looks_like_telemetry(data: bytes | bytearray | memoryview) -> bool:
    """Cheap sniff for upload intake: the magic and a known version. Proves nothing more."""
    return len(data) >= 5 and bytes(data[:4]) == MAGIC and data[4] in SUPPORTED_VERSIONS


def encode_chunk(
    key: bytes,
    session_id: int,
    chunk_idx: int,
    blocks: list[dict[str, Any]],
    *,
    compress: bool = True,
    _nonce: bytes | None = None,
) -> bytes:
    """Serialise, optionally compress, and encrypt `blocks` as chunk `chunk_idx` of session
    `session_id`.

    With `compress` (the default) the plaintext is zlib-compressed when that makes it smaller.
    `_nonce` is for test vectors only: production callers must leave it None so every chunk
    gets a fresh random 96-bit nonce (reusing a nonce under one key breaks AES-GCM).
    """
    aead = _aead(key)
    _check_id("session_id", session_id)
    _check_id("chunk_idx", chunk_idx)
    if _nonce is None:
        nonce = os.urandom(NONCE_SIZE)
    elif isinstance(_nonce, bytes) and len(_nonce) == NONCE_SIZE:
        nonce = _nonce
    else:
        raise ValueError(f"_nonce must be {NONCE_SIZE} bytes")

    plaintext = _encode_blocks(blocks)
    flags = 0
    if compress and plaintext:
        packed = zlib.compress(plaintext, 6)
        if len(packed) < len(plaintext):
            plaintext, flags = packed, FLAG_ZLIB

    header = _HEADER.pack(MAGIC, VERSION, flags, 0, session_id, chunk_idx, nonce)
    return header + aead.encrypt(nonce, plaintext, header[:AD_SIZE])


def decode_chunk(
    key: bytes, session_id: int, chunk_idx: int, data: bytes | bytearray | memoryview
) -> list[dict[str, Any]]:
    """Authenticate, decrypt, decompress and parse a chunk that the caller expects to be chunk
    `chunk_idx` of session `session_id`. Returns the blocks as `encode_chunk` took them."""
    aead = _aead(key)
    _check_id("session_id", session_id)
    _check_id("chunk_idx", chunk_idx)
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TelemetryError("telemetry chunk must be bytes")
    if len(data) < HEADER_SIZE + TAG_SIZE:
        raise TelemetryError(
            f"telemetry chunk too short: {len(data)} bytes, "
            f"at least {HEADER_SIZE + TAG_SIZE} needed for header and tag"
        )
    if len(data) > MAX_CHUNK_BYTES:
        raise TelemetryError(
            f"telemetry chunk too large: {len(data)} bytes, limit {MAX_CHUNK_BYTES}"
        )
    magic, version, flags, reserved, head_session, head_chunk, nonce = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise TelemetryError(f"not a telemetry chunk: bad magic {magic.hex()}, expected 5647544c")
    if version not in SUPPORTED_VERSIONS:
        raise TelemetryError(f"unsupported telemetry format version {version}, expected {VERSION}")
    if flags & ~KNOWN_FLAGS:
        raise TelemetryError(f"unknown flag bits set in telemetry header: 0x{flags:02x}")
    if reserved != 0:
        raise TelemetryError(f"reserved header field must be 0, got 0x{reserved:04x}")
    if head_session != session_id:
        raise TelemetryError(f"chunk belongs to session {head_session}, not session {session_id}")
    if head_chunk != chunk_idx:
        raise TelemetryError(f"chunk header says chunk index {head_chunk}, not {chunk_idx}")

    # The associated data comes from what the caller expects, not from the header bytes.
    ad = _AD.pack(MAGIC, version, flags, 0, session_id, chunk_idx)
    try:
        plaintext = aead.decrypt(nonce, bytes(data[HEADER_SIZE:]), ad)
    except InvalidTag:
        raise TelemetryError(
            "telemetry chunk failed authentication: wrong key, altered bytes, "
            "or a chunk from another session or chunk index"
        ) from None

    if flags & FLAG_ZLIB:
        plaintext = _inflate(plaintext)
    return _decode_blocks(plaintext)


# --- internals ---------------------------------------------------------------------------


def _aead(key: bytes) -> AESGCM:
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise ValueError(f"telemetry key must be {KEY_SIZE} bytes")
    return AESGCM(key)


def _check_id(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TelemetryError(f"{name} must be an integer")
    if not 0 <= value <= _U64_MAX:
        raise TelemetryError(f"{name} must be between 0 and 2**64-1, got {value}")


def _inflate(packed: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        # max_length bounds the output, so a zlib bomb costs at most the limit plus one byte.
        out = inflater.decompress(packed, MAX_PLAINTEXT_BYTES + 1)
    except zlib.error as exc:
        raise TelemetryError(f"telemetry plaintext is not valid zlib data: {exc}") from None
    if len(out) > MAX_PLAINTEXT_BYTES:
        raise TelemetryError(
            f"decompressed telemetry plaintext over the {MAX_PLAINTEXT_BYTES}-byte limit"
        )
    if not inflater.eof:
        raise TelemetryError("telemetry plaintext zlib stream is truncated")
    if inflater.unused_data:
        raise TelemetryError(
            f"{len(inflater.unused_data)} trailing bytes after the zlib stream in telemetry"
        )
    return out


def _encode_blocks(blocks: list[dict[str, Any]]) -> bytes:
    if not isinstance(blocks, list):
        raise TelemetryError("blocks must be a list of dicts")
    if len(blocks) > MAX_BLOCKS:
        raise TelemetryError(f"too many blocks: {len(blocks)}, limit {MAX_BLOCKS}")
    parts: list[bytes] = []
    size = 0
    json_size = 0
    for i, block in enumerate(blocks):
        btype, timestamp, payload = _encode_block(i, block)
        if btype not in _BINARY_TYPES:
            json_size += len(payload)
            if json_size > MAX_JSON_BYTES_PER_CHUNK:
                raise TelemetryError(
                    f"JSON payloads exceed {MAX_JSON_BYTES_PER_CHUNK} bytes in one chunk"
                )
        size += BLOCK_HEADER_SIZE + len(payload)
        if size > MAX_PLAINTEXT_BYTES:
            raise TelemetryError(f"blocks exceed the {MAX_PLAINTEXT_BYTES}-byte plaintext limit")
        parts.append(_BLOCK.pack(btype, timestamp, len(payload)))
        parts.append(payload)
    return b"".join(parts)


def _encode_block(i: int, block: dict[str, Any]) -> tuple[BlockType, int, bytes]:
    where = f"block {i}"
    if not isinstance(block, dict):
        raise TelemetryError(f"{where}: must be a dict")
    name = block.get("type")
    btype = _TYPE_BY_NAME.get(name) if isinstance(name, str) else None
    if btype is None:
        known = ", ".join(sorted(_TYPE_BY_NAME))
        raise TelemetryError(f"{where}: unknown type {name!r}, expected one of {known}")
    where = f"block {i} ({name})"
    if "timestamp" not in block:
        raise TelemetryError(f"{where}: missing timestamp")
    timestamp = block["timestamp"]
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise TelemetryError(f"{where}: timestamp must be an integer (unix milliseconds)")
    if not _I64_MIN <= timestamp <= _I64_MAX:
        raise TelemetryError(f"{where}: timestamp out of the signed 64-bit range")

    fields = {k: v for k, v in block.items() if k not in _RESERVED_KEYS}
    if btype in _BINARY_TYPES:
        if set(fields) != {"data"}:
            extra = sorted(map(str, set(fields) - {"data"}))
            if extra:
                raise TelemetryError(f"{where}: unexpected fields {extra}; only data is carried")
            raise TelemetryError(f"{where}: missing data")
        data = fields["data"]
        if not isinstance(data, bytes):
            raise TelemetryError(f"{where}: data must be bytes")
        return btype, timestamp, data

    for key in fields:
        if not isinstance(key, str):
            raise TelemetryError(f"{where}: field names must be strings, got {key!r}")
    _check_fields(where, btype, fields)
    _check_json(where, fields, 0)
    try:
        text = json.dumps(
            fields, ensure_ascii=False, allow_nan=False, separators=(",", ":"), sort_keys=True
        )
    except ValueError as exc:  # e.g. an integer over Python's int-to-str digit limit
        raise TelemetryError(f"{where}: cannot serialise as JSON: {exc}") from None
    payload = text.encode("utf-8")
    if len(payload) > MAX_JSON_BYTES_PER_BLOCK:
        raise TelemetryError(
            f"{where}: JSON payload is {len(payload)} bytes, limit {MAX_JSON_BYTES_PER_BLOCK}"
        )
    return btype, timestamp, payload


def _decode_blocks(plaintext: bytes) -> list[dict[str, Any]]:
    view = memoryview(plaintext)
    blocks: list[dict[str, Any]] = []
    offset = 0
    json_size = 0
    end = len(view)
    while offset < end:
        i = len(blocks)
        if i >= MAX_BLOCKS:
            raise TelemetryError(f"too many blocks in telemetry chunk, limit {MAX_BLOCKS}")
        if end - offset < BLOCK_HEADER_SIZE:
            raise TelemetryError(
                f"{end - offset} trailing bytes at offset {offset}, "
                f"too short for a {BLOCK_HEADER_SIZE}-byte block header"
            )
        code, timestamp, length = _BLOCK.unpack_from(view, offset)
        try:
            btype = BlockType(code)
        except ValueError:
            raise TelemetryError(
                f"block {i} at offset {offset}: unknown block type 0x{code:02x}"
            ) from None
        name = btype.name.lower()
        where = f"block {i} ({name}) at offset {offset}"
        offset += BLOCK_HEADER_SIZE
        if length > end - offset:
            raise TelemetryError(
                f"{where}: truncated, declares {length} payload bytes but {end - offset} remain"
            )
        payload = view[offset : offset + length]
        offset += length

        if btype in _BINARY_TYPES:
            blocks.append({"type": name, "timestamp": timestamp, "data": bytes(payload)})
            continue
        json_size += length
        if length > MAX_JSON_BYTES_PER_BLOCK:
            raise TelemetryError(
                f"{where}: JSON payload is {length} bytes, limit {MAX_JSON_BYTES_PER_BLOCK}"
            )
        if json_size > MAX_JSON_BYTES_PER_CHUNK:
            raise TelemetryError(
                f"JSON payloads exceed {MAX_JSON_BYTES_PER_CHUNK} bytes in one chunk"
            )
        fields = _parse_json(where, bytes(payload))
        _check_json(where, fields, 0)
        _check_fields(where, btype, fields)
        blocks.append({"type": name, "timestamp": timestamp, **fields})
    return blocks


def _parse_json(where: str, payload: bytes) -> dict[str, Any]:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise TelemetryError(f"{where}: payload is not valid UTF-8") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except RecursionError:
        raise TelemetryError(f"{where}: JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and the hooks' errors
        raise TelemetryError(f"{where}: bad JSON: {exc}") from None
    if not isinstance(value, dict):
        raise TelemetryError(f"{where}: JSON payload must be an object, got {_json_kind(value)}")
    reserved = sorted(_RESERVED_KEYS & value.keys())
    if reserved:
        raise TelemetryError(f"{where}: JSON payload must not contain reserved keys {reserved}")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _check_json(where: str, value: object, depth: int) -> None:
    """Allow exactly what survives a JSON round trip unchanged."""
    if depth > MAX_JSON_DEPTH:
        raise TelemetryError(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, str):
        _check_str(where, value)
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TelemetryError(f"{where}: NaN and infinite numbers are not JSON")
        return
    if isinstance(value, list):
        for item in value:
            _check_json(where, item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TelemetryError(f"{where}: object keys must be strings, got {key!r}")
            _check_str(where, key)
            _check_json(where, item, depth + 1)
        return
    raise TelemetryError(f"{where}: {type(value).__name__} is not JSON-serialisable")


def _check_str(where: str, value: str) -> None:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise TelemetryError(
                f"{where}: a string holds a lone surrogate (not Unicode)"
            ) from None


def _check_fields(where: str, btype: BlockType, fields: Mapping[str, Any]) -> None:
    if btype is BlockType.EVENT:
        event = fields.get("event")
        if not isinstance(event, str) or event not in EVENT_NAMES:
            known = ", ".join(sorted(EVENT_NAMES))
            raise TelemetryError(f"{where}: event must be one of {known}, got {event!r}")
    elif btype is BlockType.HOST_INFO:
        kind = fields.get("kind")
        if not isinstance(kind, str) or kind not in HOST_INFO_KINDS:
            raise TelemetryError(f"{where}: kind must be 'full' or 'heartbeat', got {kind!r}")
