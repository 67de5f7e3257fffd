"""The attempt state machine: a StrEnum and its transition table."""

from __future__ import annotations

from enum import StrEnum

from vigil.core.errors import IllegalTransition


class AttemptStatus(StrEnum):
    ACTIVE = "active"
    SUBMITTED = "submitted"
    FINISHED = "finished"


A = AttemptStatus
TRANSITIONS: dict[AttemptStatus, frozenset[AttemptStatus]] = {
    A.ACTIVE: frozenset({A.SUBMITTED}),
    A.SUBMITTED: frozenset({A.FINISHED}),
    A.FINISHED: frozenset(),
}


class AttemptFinished(IllegalTransition):
    """The attempt was submitted already: it no longer changes."""


def transition(current: AttemptStatus, target: AttemptStatus) -> AttemptStatus:
    if target not in TRANSITIONS[current]:
        if current is not A.ACTIVE:
            raise AttemptFinished(
                f"the attempt is {current.value}; it cannot become {target.value}",
                field="attemptId",
            )
        raise IllegalTransition(f"attempt is {current.value}; it cannot become {target.value}")
    return target
