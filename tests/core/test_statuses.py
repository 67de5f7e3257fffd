"""The session state machine as a pure function."""

from __future__ import annotations

import pytest

from vigil.core.errors import IllegalTransition
from vigil.core.sessions.statuses import TRANSITIONS, SessionStatus, transition

S = SessionStatus
ALLOWED = {
    (S.PENDING, S.ACTIVE), (S.PENDING, S.CANCELLED), (S.PENDING, S.FAILED),
    (S.ACTIVE, S.PAUSED), (S.ACTIVE, S.FINISHED), (S.ACTIVE, S.CANCELLED), (S.ACTIVE, S.FAILED),
    (S.PAUSED, S.ACTIVE), (S.PAUSED, S.FINISHED), (S.PAUSED, S.CANCELLED), (S.PAUSED, S.FAILED),
}  # fmt: skip


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("target", list(S))
def test_every_pair(current: SessionStatus, target: SessionStatus) -> None:
    if (current, target) in ALLOWED:
        assert transition(current, target) is target
    else:
        with pytest.raises(IllegalTransition, match=f"session is {current.value}"):
            transition(current, target)


def test_ended_states_are_final() -> None:
    for final in (S.FINISHED, S.CANCELLED, S.FAILED):
        assert TRANSITIONS[final] == frozenset()
