"""Small secrets kept in the database, sealed (AES-256-GCM) by a key derived from the
server key for one purpose, and bound to the row they belong to (associated data): a
value copied to another row, or used for another purpose, does not open."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE = 12


class Unsealable(Exception):
    """The value does not open: the server key changed, or it belongs elsewhere."""


def _key(server_secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        server_secret.encode()
    )


def seal(server_secret: str, purpose: bytes, row: str, plain: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(_key(server_secret, purpose)).encrypt(nonce, plain, row.encode())


def unseal(server_secret: str, purpose: bytes, row: str, sealed: bytes) -> bytes:
    try:
        return AESGCM(_key(server_secret, purpose)).decrypt(
            sealed[:_NONCE], sealed[_NONCE:], row.encode()
        )
    except InvalidTag as exc:
        raise Unsealable(row) from exc
