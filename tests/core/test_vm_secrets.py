"""A VM's console password is stored wrapped, bound to its row and to the server key."""

from __future__ import annotations

import pytest

from vigil.core.errors import Conflict
from vigil.core.tasks.secrets import unwrap_password, wrap_password

KEY = "server-secret-0123456789abcdef"


def test_round_trip_and_no_plaintext() -> None:
    wrapped = wrap_password(KEY, 7, "pw-abcd")
    assert b"pw-abcd" not in wrapped
    assert unwrap_password(KEY, 7, wrapped) == "pw-abcd"
    assert wrap_password(KEY, 7, "pw-abcd") != wrapped  # a fresh nonce each time


def test_bound_to_its_row() -> None:
    with pytest.raises(Conflict):
        unwrap_password(KEY, 8, wrap_password(KEY, 7, "pw-abcd"))


def test_a_changed_server_key_says_so() -> None:
    with pytest.raises(Conflict, match="restart the machine"):
        unwrap_password("another-secret-0123456789abcdef", 7, wrap_password(KEY, 7, "pw"))
