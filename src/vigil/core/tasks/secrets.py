"""A VM's console password, stored wrapped (AES-256-GCM) by a key derived from the server
key and bound to its row: a copied column does not unwrap on another row."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vigil.core.errors import Conflict

_INFO = b"vigil vm console password v1"
_NONCE = 12


def _key(server_secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        server_secret.encode()
    )


def wrap_password(server_secret: str, vm_row_id: int, password: str) -> bytes:
    nonce = os.urandom(_NONCE)
    aad = f"vm:{vm_row_id}".encode()
    return nonce + AESGCM(_key(server_secret)).encrypt(nonce, password.encode(), aad)


def unwrap_password(server_secret: str, vm_row_id: int, wrapped: bytes) -> str:
    aad = f"vm:{vm_row_id}".encode()
    try:
        plain = AESGCM(_key(server_secret)).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], aad)
    except InvalidTag as exc:  # the server key changed since the machine started
        raise Conflict(
            "the machine's password does not unwrap with the server key: restart the machine"
        ) from exc
    return plain.decode()
