"""The session state machine: a StrEnum and its transition table."""

from __future__ import annotations

from enum import StrEnum

from vigil.core.errors import IllegalTransition


class SessionStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    PAUSED = "paused"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"


S = SessionStatus
TRANSITIONS: dict[SessionStatus, frozenset[SessionStatus]] = {
    S.PENDING: frozenset({S.ACTIVE, S.CANCELLED, S.FAILED}),
    S.ACTIVE: frozenset({S.PAUSED, S.FINISHED, S.CANCELLED, S.FAILED}),
    S.PAUSED: frozenset({S.ACTIVE, S.FINISHED, S.CANCELLED, S.FAILED}),
    S.FINISHED: frozenset(),
    S.CANCELLED: frozenset(),
    S.FAILED: frozenset(),
}
OPEN = frozenset({S.PENDING, S.ACTIVE, S.PAUSED})


def transition(current: SessionStatus, target: SessionStatus) -> SessionStatus:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(f"session is {current.value}; it cannot become {target.value}")
    return target
