"""The attempt state machine as a pure function."""

from __future__ import annotations

import pytest

from vigil.core.attempts.statuses import TRANSITIONS, AttemptFinished, AttemptStatus, transition
from vigil.core.errors import IllegalTransition

A = AttemptStatus
ALLOWED = {(A.ACTIVE, A.SUBMITTED), (A.SUBMITTED, A.FINISHED)}


@pytest.mark.parametrize("current", list(A))
@pytest.mark.parametrize("target", list(A))
def test_every_pair(current: AttemptStatus, target: AttemptStatus) -> None:
    if (current, target) in ALLOWED:
        assert transition(current, target) is target
    elif current is A.ACTIVE:
        with pytest.raises(IllegalTransition, match="attempt is active"):
            transition(current, target)
    else:
        with pytest.raises(AttemptFinished, match=f"the attempt is {current.value}"):
            transition(current, target)


def test_finished_is_final() -> None:
    assert TRANSITIONS[A.FINISHED] == frozenset()
