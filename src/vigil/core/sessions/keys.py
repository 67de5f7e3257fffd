"""Per-session telemetry keys, stored sealed by a key derived from the server key."""

from __future__ import annotations

from vigil.core.errors import Conflict
from vigil.core.sealing import Unsealable, seal, unseal

_PURPOSE = b"vigil telemetry key wrapping v1"


def wrap(server_secret: str, session_id: int, key: bytes) -> bytes:
    return seal(server_secret, _PURPOSE, f"session:{session_id}", key)


def unwrap(server_secret: str, session_id: int, wrapped: bytes) -> bytes:
    try:
        return unseal(server_secret, _PURPOSE, f"session:{session_id}", wrapped)
    except Unsealable as exc:  # the server key changed since the key was wrapped
        raise Conflict("the session's telemetry key does not unwrap with the server key") from exc
