"""Per-session telemetry keys, stored wrapped (AES-256-GCM) by a key derived from the server key."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vigil.core.errors import Conflict

_INFO = b"vigil telemetry key wrapping v1"
_NONCE = 12


def _wrapping_key(server_secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        server_secret.encode()
    )


def wrap(server_secret: str, session_id: int, key: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    aad = f"session:{session_id}".encode()
    return nonce + AESGCM(_wrapping_key(server_secret)).encrypt(nonce, key, aad)


def unwrap(server_secret: str, session_id: int, wrapped: bytes) -> bytes:
    aad = f"session:{session_id}".encode()
    try:
        return AESGCM(_wrapping_key(server_secret)).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], aad)
    except InvalidTag as exc:  # the server key changed since the key was wrapped
        raise Conflict("the session's telemetry key does not unwrap with the server key") from exc
