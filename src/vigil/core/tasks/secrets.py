"""A VM's console password, stored sealed by a key derived from the server key and bound
to its row: a copied column does not unwrap on another row."""

from __future__ import annotations

from vigil.core.errors import Conflict
from vigil.core.sealing import Unsealable, seal, unseal

_PURPOSE = b"vigil vm console password v1"


def wrap_password(server_secret: str, vm_row_id: int, password: str) -> bytes:
    return seal(server_secret, _PURPOSE, f"vm:{vm_row_id}", password.encode())


def unwrap_password(server_secret: str, vm_row_id: int, wrapped: bytes) -> str:
    try:
        return unseal(server_secret, _PURPOSE, f"vm:{vm_row_id}", wrapped).decode()
    except Unsealable as exc:  # the server key changed since the machine started
        raise Conflict(
            "the machine's password does not unwrap with the server key: restart the machine"
        ) from exc
