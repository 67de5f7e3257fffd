"""The telemetry chunk format (docs/telemetry-format.md): round trips, authentication binding
to (session, chunk index), every malformed-input error, limits and the published vectors."""

from __future__ import annotations

import json
import os
import random
import struct
import zlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil import telemetry
from vigil.telemetry import (
    EVENT_NAMES,
    HEADER_SIZE,
    MAGIC,
    MAX_BLOCKS,
    MAX_JSON_BYTES_PER_BLOCK,
    MAX_PLAINTEXT_BYTES,
    TAG_SIZE,
    BlockType,
    TelemetryError,
    decode_chunk,
    encode_chunk,
    looks_like_telemetry,
    new_key,
)

KEY = bytes(range(32))
SESSION = 42
CHUNK = 7

# --- published test vectors (docs/telemetry-format.md §9) -------------------------------------

VECTOR_NONCE = bytes.fromhex("a0a1a2a3a4a5a6a7a8a9aaab")
VECTOR_BLOCKS: list[dict[str, Any]] = [
    {
        "type": "event",
        "timestamp": 1711360200000,
        "event": "app_switch",
        "from": "exam.exe",
        "to": "chrome.exe",
    },
    {
        "type": "host_info",
        "timestamp": 1711360201000,
        "kind": "heartbeat",
        "displays": 1,
        "active_window": "exam.exe",
        "network_ok": True,
    },
]
VECTOR_PLAINTEXT_HEX = (
    "020000018e75044d400000003a"
    "7b226576656e74223a226170705f737769746368222c2266726f6d223a226578616d2e657865222c22746f22"
    "3a226368726f6d652e657865227d"
    "060000018e750451280000004e"
    "7b226163746976655f77696e646f77223a226578616d2e657865222c22646973706c617973223a312c226b69"
    "6e64223a22686561727462656174222c226e6574776f726b5f6f6b223a747275657d"
)
VECTOR_AD_HEX = "5647544c01000000000000000000002a0000000000000007"
VECTOR_CHUNK_HEX = (
    "5647544c01000000000000000000002a0000000000000007a0a1a2a3a4a5a6a7a8a9aaab"
    "e4187c2ccbbe06f2226587d33d01e2bb06c93764b08d600dec7e79f508c20162ba546bddc9503c507da626ad"
    "711beed72263236a4ef26e116364293dcc02eaddd192e017558799e6f4e2fe96faca9d92cd0babeabee3f819"
    "9a1c48ffeeed24faebeb5c89398ceae3ffb62835fdedcf04063408ddae59fa455cede49598779924ab759245"
    "f12ae576452d9cee733eb3faaab7c81fc9bf88e7a2a2d6d795b3465ea365aff861a1eca2745f5a3d4c65faa2"
    "460a"
)
# Decode-only: zlib output is not byte-stable across zlib builds, so encoders need not match.
VECTOR_COMPRESSED_CHUNK_HEX = (
    "5647544c01010000000000000000002a0000000000000007a0a1a2a3a4a5a6a7a8a9aaab"
    "9e8429a104c1c08f7220245b00e35555521494da999f3aeeaca8058fcee23da79fd3b3f531fb126a7163ff37"
    "b6d7d162b0a3fdd4f782607fdb76393664ecc8dd2a1106612e80e9229c241e50bcc72d9e14314a50e02a67dd"
    "57687ae9ec9a606f06c8d81a4c437041654199a82f28a23520492943d63e443576359678e65cd448154df625"
    "ec65482599c3a972cdda158c16d656bfd36a3d55a0"
)


def test_vector_uncompressed_encodes_exactly() -> None:
    chunk = encode_chunk(KEY, SESSION, CHUNK, VECTOR_BLOCKS, compress=False, _nonce=VECTOR_NONCE)
    assert chunk.hex() == VECTOR_CHUNK_HEX
    assert len(chunk) == 214


def test_vector_matches_the_spec_built_by_hand() -> None:
    """Rebuild the vector from the documented layout alone, without vigil.telemetry."""
    ad = MAGIC + bytes([1, 0]) + (0).to_bytes(2, "big") + struct.pack(">QQ", SESSION, CHUNK)
    assert ad.hex() == VECTOR_AD_HEX
    plaintext = b""
    for code, block in ((0x02, VECTOR_BLOCKS[0]), (0x06, VECTOR_BLOCKS[1])):
        fields = {k: v for k, v in block.items() if k not in ("type", "timestamp")}
        payload = json.dumps(fields, separators=(",", ":"), sort_keys=True).encode()
        plaintext += struct.pack(">BqI", code, block["timestamp"], len(payload)) + payload
    assert plaintext.hex() == VECTOR_PLAINTEXT_HEX
    chunk = ad + VECTOR_NONCE + AESGCM(KEY).encrypt(VECTOR_NONCE, plaintext, ad)
    assert chunk.hex() == VECTOR_CHUNK_HEX


def test_vectors_decode() -> None:
    for hexed in (VECTOR_CHUNK_HEX, VECTOR_COMPRESSED_CHUNK_HEX):
        assert decode_chunk(KEY, SESSION, CHUNK, bytes.fromhex(hexed)) == VECTOR_BLOCKS


def test_compressed_vector_sets_flag_and_compressed_default_is_used() -> None:
    compressed = bytes.fromhex(VECTOR_COMPRESSED_CHUNK_HEX)
    assert compressed[5] == telemetry.FLAG_ZLIB
    chunk = encode_chunk(KEY, SESSION, CHUNK, VECTOR_BLOCKS, _nonce=VECTOR_NONCE)
    assert chunk[5] == telemetry.FLAG_ZLIB
    assert len(chunk) < len(bytes.fromhex(VECTOR_CHUNK_HEX))


# --- round trips ------------------------------------------------------------------------------

ALL_TYPES: list[dict[str, Any]] = [
    {"type": "video", "timestamp": 1711360200000, "data": b"\x47" + bytes(187)},
    {
        "type": "event",
        "timestamp": 1711360200001,
        "event": "keyboard",
        "keys": 17,
        "window": "exam.exe",
    },
    {"type": "event", "timestamp": 1711360200002, "event": "mouse", "x": 10, "y": 20, "clicks": 1},
    {"type": "event", "timestamp": 1711360200003, "event": "dns_query", "name": "chat.example"},
    {
        "type": "event",
        "timestamp": 1711360200004,
        "event": "network_stats",
        "bytes_sent": 1024,
        "bytes_recv": 4096,
    },
    {"type": "event", "timestamp": 1711360200005, "event": "clipboard", "action": "copy"},
    {
        "type": "event",
        "timestamp": 1711360200006,
        "event": "device_change",
        "device": "display",
        "action": "added",
    },
    {
        "type": "screenshot",
        "timestamp": 1711360200007,
        "data": b"\xff\xd8\xff\xe0" + os.urandom(64),
    },
    {"type": "meta", "timestamp": 1711360200008, "agent_version": "1.4.2", "fps": 5},
    {"type": "network", "timestamp": 1711360200009, "connections": [{"dst": "10.0.0.1:443"}]},
    {
        "type": "host_info",
        "timestamp": 1711360200010,
        "kind": "full",
        "hostname": "lab-pc-07",
        "os": "Windows 11 Pro 23H2",
        "cpu": "Intel Core i5-12400",
        "ram_mb": 16384,
        "displays": [{"id": 0, "width": 1920, "height": 1080, "primary": True}],
        "processes": [{"name": "exam.exe", "pid": 4242}],
        "network_interfaces": [{"name": "eth0", "mac": "00:11:22:33:44:55", "ipv4": "10.0.0.7"}],
        "vm_indicators": [],
        "remote_desktop_indicators": [],
    },
    {"type": "video", "timestamp": -5, "data": b""},
    {"type": "meta", "timestamp": 0, "note": "Prüfung — 試験 🎓", "ratio": 0.25, "nothing": None},
]


@pytest.mark.parametrize("compress", [True, False])
def test_round_trip_every_block_type(compress: bool) -> None:
    assert {b["type"] for b in ALL_TYPES} == {t.name.lower() for t in BlockType}
    chunk = encode_chunk(KEY, SESSION, CHUNK, ALL_TYPES, compress=compress)
    assert chunk[:4] == MAGIC
    assert decode_chunk(KEY, SESSION, CHUNK, chunk) == ALL_TYPES


@pytest.mark.parametrize("block", ALL_TYPES, ids=lambda b: str(b["type"]))
def test_round_trip_single_block(block: dict[str, Any]) -> None:
    chunk = encode_chunk(KEY, SESSION, CHUNK, [block])
    assert decode_chunk(KEY, SESSION, CHUNK, chunk) == [block]


def test_round_trip_empty_chunk_and_extreme_ids() -> None:
    top = 2**64 - 1
    chunk = encode_chunk(KEY, top, top, [])
    assert len(chunk) == HEADER_SIZE + TAG_SIZE
    assert decode_chunk(KEY, top, top, chunk) == []
    assert decode_chunk(KEY, 0, 0, encode_chunk(KEY, 0, 0, [])) == []


def test_decode_accepts_bytearray_and_memoryview() -> None:
    chunk = encode_chunk(KEY, SESSION, CHUNK, VECTOR_BLOCKS)
    assert decode_chunk(KEY, SESSION, CHUNK, bytearray(chunk)) == VECTOR_BLOCKS
    assert decode_chunk(KEY, SESSION, CHUNK, memoryview(chunk)) == VECTOR_BLOCKS


def test_nonce_is_fresh_per_chunk() -> None:
    a = encode_chunk(KEY, SESSION, CHUNK, VECTOR_BLOCKS)
    b = encode_chunk(KEY, SESSION, CHUNK, VECTOR_BLOCKS)
    assert a[HEADER_SIZE - 12 : HEADER_SIZE] != b[HEADER_SIZE - 12 : HEADER_SIZE]
    assert a != b


def test_new_key() -> None:
    a, b = new_key(), new_key()
    assert len(a) == 32
    assert isinstance(a, bytes)
    assert a != b


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
extra_fields = st.dictionaries(
    st.text(max_size=12).filter(lambda k: k not in {"type", "timestamp", "event"}),
    json_values,
    max_size=6,
)
timestamps = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@st.composite
def event_blocks(draw: st.DrawFn) -> dict[str, Any]:
    fields = draw(extra_fields)
    return {
        "type": "event",
        "timestamp": draw(timestamps),
        "event": draw(st.sampled_from(sorted(EVENT_NAMES))),
        **fields,
    }


@st.composite
def any_blocks(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from([t.name.lower() for t in BlockType]))
    timestamp = draw(timestamps)
    if kind in ("video", "screenshot"):
        return {"type": kind, "timestamp": timestamp, "data": draw(st.binary(max_size=300))}
    if kind == "event":
        return draw(event_blocks())
    fields = draw(extra_fields)
    if kind == "host_info":
        fields["kind"] = draw(st.sampled_from(["full", "heartbeat"]))
    return {"type": kind, "timestamp": timestamp, **fields}


@settings(max_examples=100, deadline=None)
@given(
    blocks=st.lists(event_blocks(), max_size=8),
    session_id=st.integers(0, 2**64 - 1),
    chunk_idx=st.integers(0, 2**64 - 1),
    compress=st.booleans(),
)
def test_round_trip_property_events(
    blocks: list[dict[str, Any]], session_id: int, chunk_idx: int, compress: bool
) -> None:
    chunk = encode_chunk(KEY, session_id, chunk_idx, blocks, compress=compress)
    assert looks_like_telemetry(chunk)
    assert decode_chunk(KEY, session_id, chunk_idx, chunk) == blocks


@settings(max_examples=100, deadline=None)
@given(blocks=st.lists(any_blocks(), max_size=8))
def test_round_trip_property_mixed(blocks: list[dict[str, Any]]) -> None:
    chunk = encode_chunk(KEY, SESSION, CHUNK, blocks)
    assert decode_chunk(KEY, SESSION, CHUNK, chunk) == blocks


# --- binding to (session, chunk index), key and bytes ----------------------------------------


@pytest.fixture
def chunk() -> bytes:
    return encode_chunk(KEY, SESSION, CHUNK, VECTOR_BLOCKS)


def _with_header(chunk: bytes, session_id: int, chunk_idx: int) -> bytes:
    return chunk[:8] + struct.pack(">QQ", session_id, chunk_idx) + chunk[24:]


def test_replay_into_another_session_is_refused(chunk: bytes) -> None:
    with pytest.raises(TelemetryError, match="belongs to session 42, not session 43"):
        decode_chunk(KEY, SESSION + 1, CHUNK, chunk)


def test_replay_into_another_chunk_slot_is_refused(chunk: bytes) -> None:
    with pytest.raises(TelemetryError, match="chunk index 7, not 8"):
        decode_chunk(KEY, SESSION, CHUNK + 1, chunk)


def test_header_edited_to_claim_another_session_fails_authentication(chunk: bytes) -> None:
    forged = _with_header(chunk, SESSION + 1, CHUNK)
    with pytest.raises(TelemetryError, match="failed authentication"):
        decode_chunk(KEY, SESSION + 1, CHUNK, forged)


def test_header_edited_to_claim_another_chunk_slot_fails_authentication(chunk: bytes) -> None:
    forged = _with_header(chunk, SESSION, 0)
    with pytest.raises(TelemetryError, match="failed authentication"):
        decode_chunk(KEY, SESSION, 0, forged)


def test_wrong_key(chunk: bytes) -> None:
    with pytest.raises(TelemetryError, match="failed authentication: wrong key"):
        decode_chunk(new_key(), SESSION, CHUNK, chunk)


@pytest.mark.parametrize("offset", range(HEADER_SIZE))
def test_every_header_byte_flipped_is_refused(chunk: bytes, offset: int) -> None:
    for mask in (0x01, 0x80):
        damaged = bytearray(chunk)
        damaged[offset] ^= mask
        with pytest.raises(TelemetryError):
            decode_chunk(KEY, SESSION, CHUNK, bytes(damaged))


@pytest.mark.parametrize(
    ("offset", "match"),
    [
        (0, "bad magic"),
        (4, "unsupported telemetry format version"),
        (5, "unknown flag bits|failed authentication"),
        (6, "reserved header field"),
        (15, "not session 42"),
        (23, "not 7"),
        (30, "failed authentication"),
    ],
)
def test_header_damage_is_named(chunk: bytes, offset: int, match: str) -> None:
    damaged = bytearray(chunk)
    damaged[offset] ^= 0x02
    with pytest.raises(TelemetryError, match=match):
        decode_chunk(KEY, SESSION, CHUNK, bytes(damaged))


def test_compression_flag_toggled_fails_authentication() -> None:
    plain = encode_chunk(KEY, SESSION, CHUNK, VECTOR_BLOCKS, compress=False)
    damaged = bytearray(plain)
    damaged[5] |= telemetry.FLAG_ZLIB
    with pytest.raises(TelemetryError, match="failed authentication"):
        decode_chunk(KEY, SESSION, CHUNK, bytes(damaged))


@pytest.mark.parametrize("cut", [1, TAG_SIZE, 40])
def test_truncated_ciphertext(chunk: bytes, cut: int) -> None:
    with pytest.raises(TelemetryError, match="failed authentication"):
        decode_chunk(KEY, SESSION, CHUNK, chunk[:-cut])


def test_appended_bytes(chunk: bytes) -> None:
    with pytest.raises(TelemetryError, match="failed authentication"):
        decode_chunk(KEY, SESSION, CHUNK, chunk + b"\x00")


@pytest.mark.parametrize("position", ["first", "middle", "tag"])
def test_bit_flip_in_ciphertext(chunk: bytes, position: str) -> None:
    offset = {"first": HEADER_SIZE, "middle": (HEADER_SIZE + len(chunk)) // 2, "tag": -1}[position]
    damaged = bytearray(chunk)
    damaged[offset] ^= 0x10
    with pytest.raises(TelemetryError, match="failed authentication"):
        decode_chunk(KEY, SESSION, CHUNK, bytes(damaged))


@pytest.mark.parametrize("length", [0, 4, HEADER_SIZE, HEADER_SIZE + TAG_SIZE - 1])
def test_short_input(chunk: bytes, length: int) -> None:
    with pytest.raises(TelemetryError, match="too short"):
        decode_chunk(KEY, SESSION, CHUNK, chunk[:length])


def test_oversized_input_refused_before_decrypting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry, "MAX_CHUNK_BYTES", 100)
    big = encode_chunk(KEY, SESSION, CHUNK, [{"type": "video", "timestamp": 0, "data": bytes(64)}])
    with pytest.raises(TelemetryError, match="too large"):
        decode_chunk(KEY, SESSION, CHUNK, big + bytes(64))


# --- malformed plaintext (encrypted correctly, so only the parser can object) ----------------


def _seal(plaintext: bytes, *, flags: int = 0, key: bytes = KEY) -> bytes:
    """Encrypt arbitrary plaintext as a well-formed chunk, bypassing the encoder's checks."""
    nonce = os.urandom(12)
    ad = struct.pack(">4sBBHQQ", MAGIC, 1, flags, 0, SESSION, CHUNK)
    return ad + nonce + AESGCM(key).encrypt(nonce, plaintext, ad)


def _block(code: int, payload: bytes, timestamp: int = 1711360200000) -> bytes:
    return struct.pack(">BqI", code, timestamp, len(payload)) + payload


def _decode_sealed(plaintext: bytes, flags: int = 0) -> list[dict[str, Any]]:
    return decode_chunk(KEY, SESSION, CHUNK, _seal(plaintext, flags=flags))


GOOD_EVENT = _block(0x02, b'{"event":"mouse","x":1}')


@pytest.mark.parametrize(
    ("plaintext", "match"),
    [
        (_block(0x07, b"{}"), "block 0 at offset 0: unknown block type 0x07"),
        (GOOD_EVENT + _block(0x00, b""), r"block 1 at offset 36: unknown block type 0x00"),
        (GOOD_EVENT + _block(0xFF, b""), "unknown block type 0xff"),
        (GOOD_EVENT[:-1], r"block 0 \(event\) at offset 0: truncated, declares 23 .* 22 remain"),
        (GOOD_EVENT + b"\x02\x00\x00", "3 trailing bytes at offset 36, too short"),
        (GOOD_EVENT[:5], "5 trailing bytes at offset 0"),
        (_block(0x02, b'{"event":"mouse"'), r"block 0 \(event\) at offset 0: bad JSON"),
        (_block(0x04, b""), "bad JSON"),
        (_block(0x04, b'{"a":1,"a":2}'), "bad JSON: duplicate key 'a'"),
        (_block(0x04, b'{"a":NaN}'), "bad JSON: NaN is not allowed"),
        (_block(0x04, b'{"a":1e999}'), "NaN and infinite numbers"),
        (_block(0x04, b"[1,2]"), "JSON payload must be an object, got an array"),
        (_block(0x05, b'"x"'), "must be an object, got a string"),
        (_block(0x05, b"null"), "must be an object, got null"),
        (_block(0x05, b"3"), "must be an object, got a number"),
        (_block(0x04, b'{"a":"\xff"}'), "payload is not valid UTF-8"),
        (_block(0x04, '{"a":1}'.encode("utf-16")), "payload is not valid UTF-8"),
        (_block(0x04, b'{"a":"\\ud800"}'), "lone surrogate"),
        (_block(0x04, b'{"timestamp":5}'), r"reserved keys \['timestamp'\]"),
        (_block(0x04, b'{"type":"video"}'), r"reserved keys \['type'\]"),
        (_block(0x04, b'{"a":' + b"[" * 65 + b"]" * 65 + b"}"), "nested deeper than 64"),
        (_block(0x04, b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"), "nested"),
        (_block(0x02, b'{"x":1}'), "event must be one of .* got None"),
        (_block(0x02, b'{"event":"telepathy"}'), "event must be one of .* got 'telepathy'"),
        (_block(0x06, b'{"hostname":"pc"}'), "kind must be 'full' or 'heartbeat', got None"),
        (_block(0x06, b'{"kind":"partial"}'), "kind must be 'full' or 'heartbeat'"),
    ],
)
def test_malformed_plaintext_is_named(plaintext: bytes, match: str) -> None:
    with pytest.raises(TelemetryError, match=match):
        _decode_sealed(plaintext)


def test_json_payload_over_block_limit() -> None:
    payload = b'{"a":"' + b"x" * MAX_JSON_BYTES_PER_BLOCK + b'"}'
    with pytest.raises(TelemetryError, match="JSON payload is .* bytes, limit"):
        _decode_sealed(_block(0x04, payload))


def test_json_payloads_over_chunk_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry, "MAX_JSON_BYTES_PER_CHUNK", 50)
    with pytest.raises(TelemetryError, match="JSON payloads exceed 50 bytes"):
        _decode_sealed(GOOD_EVENT * 3)


def test_block_count_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry, "MAX_BLOCKS", 3)
    assert len(_decode_sealed(GOOD_EVENT * 3)) == 3
    with pytest.raises(TelemetryError, match="too many blocks in telemetry chunk, limit 3"):
        _decode_sealed(GOOD_EVENT * 4)


def test_block_count_limit_default_is_real() -> None:
    tiny = _block(0x01, b"")
    assert len(_decode_sealed(tiny * MAX_BLOCKS)) == MAX_BLOCKS
    with pytest.raises(TelemetryError, match="too many blocks"):
        _decode_sealed(tiny * (MAX_BLOCKS + 1))


# --- compression ------------------------------------------------------------------------------


def test_zlib_bomb_is_bounded() -> None:
    bomb = zlib.compress(bytes(MAX_PLAINTEXT_BYTES + 1024), 9)
    assert len(bomb) < 100_000
    with pytest.raises(TelemetryError, match="decompressed telemetry plaintext over the"):
        decode_chunk(KEY, SESSION, CHUNK, _seal(bomb, flags=1))


def test_plaintext_at_the_limit_is_accepted() -> None:
    exact = _block(0x01, bytes(MAX_PLAINTEXT_BYTES - 13))
    blocks = decode_chunk(KEY, SESSION, CHUNK, _seal(zlib.compress(exact), flags=1))
    assert len(blocks) == 1
    assert len(blocks[0]["data"]) == MAX_PLAINTEXT_BYTES - 13


@pytest.mark.parametrize(
    ("packed", "match"),
    [
        (b"not zlib at all", "not valid zlib data"),
        (zlib.compress(GOOD_EVENT)[:-3], "zlib stream is truncated"),
        (zlib.compress(GOOD_EVENT) + b"junk", "4 trailing bytes after the zlib stream"),
    ],
)
def test_bad_compressed_plaintext(packed: bytes, match: str) -> None:
    with pytest.raises(TelemetryError, match=match):
        _decode_sealed(packed, flags=1)


def test_incompressible_payload_is_stored_uncompressed() -> None:
    blocks = [{"type": "screenshot", "timestamp": 1, "data": os.urandom(4096)}]
    chunk = encode_chunk(KEY, SESSION, CHUNK, blocks)
    assert chunk[5] == 0
    assert decode_chunk(KEY, SESSION, CHUNK, chunk) == blocks


def test_compressible_payload_is_compressed() -> None:
    blocks = [{"type": "video", "timestamp": 1, "data": bytes(4096)}]
    chunk = encode_chunk(KEY, SESSION, CHUNK, blocks)
    assert chunk[5] == telemetry.FLAG_ZLIB
    assert len(chunk) < 200
    assert encode_chunk(KEY, SESSION, CHUNK, blocks, compress=False)[5] == 0


# --- sniffing ---------------------------------------------------------------------------------


def test_looks_like_telemetry() -> None:
    ts = bytes([0x47, 0x40, 0x00, 0x10]) + bytes(184)
    assert not looks_like_telemetry(ts * 4)
    assert not looks_like_telemetry(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    assert not looks_like_telemetry(b"\x1a\x45\xdf\xa3")
    assert not looks_like_telemetry(b"")
    assert not looks_like_telemetry(b"VGTL")
    assert not looks_like_telemetry(b"VGTL\x02" + bytes(60))
    assert not looks_like_telemetry(b"vgtl\x01" + bytes(60))
    rng = random.Random(1234)
    for _ in range(200):
        assert not looks_like_telemetry(rng.randbytes(64))
    assert looks_like_telemetry(encode_chunk(KEY, SESSION, CHUNK, VECTOR_BLOCKS))
    assert looks_like_telemetry(bytes.fromhex(VECTOR_CHUNK_HEX)[:5])


# --- encoder input validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("blocks", "match"),
    [
        ([{"timestamp": 1, "event": "mouse"}], "block 0: unknown type None"),
        ([{"type": "Event", "timestamp": 1}], "block 0: unknown type 'Event'"),
        ([{"type": "audio", "timestamp": 1}], "unknown type 'audio'"),
        ([{"type": 2, "timestamp": 1}], "unknown type 2"),
        (["not a dict"], "block 0: must be a dict"),
        ([{"type": "meta"}], r"block 0 \(meta\): missing timestamp"),
        ([{"type": "meta", "timestamp": "1"}], "timestamp must be an integer"),
        ([{"type": "meta", "timestamp": 1.0}], "timestamp must be an integer"),
        ([{"type": "meta", "timestamp": True}], "timestamp must be an integer"),
        ([{"type": "meta", "timestamp": 2**63}], "signed 64-bit range"),
        ([{"type": "meta", "timestamp": -(2**63) - 1}], "signed 64-bit range"),
        ([{"type": "video", "timestamp": 1}], r"block 0 \(video\): missing data"),
        ([{"type": "video", "timestamp": 1, "data": "abc"}], "data must be bytes"),
        ([{"type": "screenshot", "timestamp": 1, "data": bytearray(2)}], "data must be bytes"),
        (
            [{"type": "video", "timestamp": 1, "data": b"", "codec": "h264"}],
            r"unexpected fields \['codec'\]",
        ),
        ([{"type": "meta", "timestamp": 1, "when": object()}], "object is not JSON-serialisable"),
        ([{"type": "meta", "timestamp": 1, "raw": b"x"}], "bytes is not JSON-serialisable"),
        ([{"type": "meta", "timestamp": 1, "pair": (1, 2)}], "tuple is not JSON-serialisable"),
        ([{"type": "meta", "timestamp": 1, "x": float("nan")}], "NaN and infinite"),
        ([{"type": "meta", "timestamp": 1, "x": float("inf")}], "NaN and infinite"),
        ([{"type": "meta", "timestamp": 1, "m": {1: "a"}}], "object keys must be strings"),
        ([{"type": "meta", "timestamp": 1, 5: "a"}], "field names must be strings"),
        ([{"type": "meta", "timestamp": 1, "s": "\ud800"}], "lone surrogate"),
        ([{"type": "meta", "timestamp": 1, "n": 10**5000}], "cannot serialise as JSON"),
        ([{"type": "event", "timestamp": 1}], "event must be one of"),
        ([{"type": "event", "timestamp": 1, "event": "MOUSE"}], "event must be one of"),
        ([{"type": "host_info", "timestamp": 1}], "kind must be 'full' or 'heartbeat'"),
        (
            [{"type": "meta", "timestamp": 1}, {"type": "meta", "timestamp": 1, "x": {2}}],
            r"block 1 \(meta\): set is not JSON-serialisable",
        ),
    ],
)
def test_encode_rejects_invalid_blocks(blocks: list[Any], match: str) -> None:
    with pytest.raises(TelemetryError, match=match):
        encode_chunk(KEY, SESSION, CHUNK, blocks)


def test_encode_rejects_deep_and_self_referencing_json() -> None:
    deep: list[Any] = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(TelemetryError, match="nested deeper than 64"):
        encode_chunk(KEY, SESSION, CHUNK, [{"type": "meta", "timestamp": 1, "d": deep}])
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(TelemetryError, match="nested deeper"):
        encode_chunk(KEY, SESSION, CHUNK, [{"type": "meta", "timestamp": 1, "d": loop}])


def test_encode_rejects_non_list_and_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TelemetryError, match="blocks must be a list"):
        encode_chunk(KEY, SESSION, CHUNK, ({"type": "meta", "timestamp": 1},))  # type: ignore[arg-type]
    too_big = "x" * MAX_JSON_BYTES_PER_BLOCK
    with pytest.raises(TelemetryError, match="JSON payload is .* bytes, limit"):
        encode_chunk(KEY, SESSION, CHUNK, [{"type": "meta", "timestamp": 1, "s": too_big}])
    monkeypatch.setattr(telemetry, "MAX_BLOCKS", 2)
    with pytest.raises(TelemetryError, match="too many blocks: 3, limit 2"):
        encode_chunk(KEY, SESSION, CHUNK, [{"type": "video", "timestamp": 1, "data": b""}] * 3)
    monkeypatch.setattr(telemetry, "MAX_PLAINTEXT_BYTES", 100)
    with pytest.raises(TelemetryError, match="plaintext limit"):
        encode_chunk(KEY, SESSION, CHUNK, [{"type": "video", "timestamp": 1, "data": bytes(90)}])
    monkeypatch.setattr(telemetry, "MAX_JSON_BYTES_PER_CHUNK", 40)
    with pytest.raises(TelemetryError, match="JSON payloads exceed 40 bytes"):
        encode_chunk(KEY, SESSION, CHUNK, VECTOR_BLOCKS)


@pytest.mark.parametrize("bad_id", [-1, 2**64, True, 1.0, "7", None])
def test_ids_validated_on_both_sides(bad_id: Any) -> None:
    with pytest.raises(TelemetryError, match="session_id"):
        encode_chunk(KEY, bad_id, CHUNK, [])
    with pytest.raises(TelemetryError, match="chunk_idx"):
        encode_chunk(KEY, SESSION, bad_id, [])
    chunk = bytes.fromhex(VECTOR_CHUNK_HEX)
    with pytest.raises(TelemetryError, match="session_id"):
        decode_chunk(KEY, bad_id, CHUNK, chunk)
    with pytest.raises(TelemetryError, match="chunk_idx"):
        decode_chunk(KEY, SESSION, bad_id, chunk)


@pytest.mark.parametrize("bad_key", [b"", bytes(16), bytes(31), bytes(33), bytearray(32), "k" * 32])
def test_key_must_be_32_bytes(bad_key: Any) -> None:
    with pytest.raises(ValueError, match="32 bytes") as info:
        encode_chunk(bad_key, SESSION, CHUNK, [])
    assert not isinstance(info.value, TelemetryError)  # a server bug, not the client's fault
    with pytest.raises(ValueError, match="32 bytes"):
        decode_chunk(bad_key, SESSION, CHUNK, bytes.fromhex(VECTOR_CHUNK_HEX))


@pytest.mark.parametrize("bad_nonce", [b"", bytes(11), bytes(13), bytearray(12)])
def test_test_nonce_must_be_12_bytes(bad_nonce: Any) -> None:
    with pytest.raises(ValueError, match="_nonce must be 12 bytes"):
        encode_chunk(KEY, SESSION, CHUNK, [], _nonce=bad_nonce)


def test_decode_rejects_non_bytes() -> None:
    with pytest.raises(TelemetryError, match="must be bytes"):
        decode_chunk(KEY, SESSION, CHUNK, VECTOR_CHUNK_HEX)  # type: ignore[arg-type]


def test_telemetry_error_is_a_value_error() -> None:
    assert issubclass(TelemetryError, ValueError)
    assert MAGIC == b"VGTL"
    assert [int(t) for t in BlockType] == [1, 2, 3, 4, 5, 6]
