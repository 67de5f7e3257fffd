"""The authorization policy as a pure decision table."""

from __future__ import annotations

import pytest

from vigil.core import policy
from vigil.core.identity.models import Role, User

A = policy.Action
CANDIDATE, OTHER_STUDENT, TEACHER, OTHER_TEACHER, CREATOR, ADMIN = 1, 2, 3, 4, 5, 6
SESSION = policy.SessionOwnership(
    candidate_id=CANDIDATE, created_by_id=CREATOR, exam_owner_id=TEACHER
)


def user(user_id: int, role: Role) -> User:
    return User(id=user_id, login=f"u{user_id}", role=role)


ACTORS = {
    "candidate": user(CANDIDATE, Role.STUDENT),
    "other_student": user(OTHER_STUDENT, Role.STUDENT),
    "exam_owner": user(TEACHER, Role.TEACHER),
    "session_creator": user(CREATOR, Role.TEACHER),
    "other_teacher": user(OTHER_TEACHER, Role.TEACHER),
    "admin": user(ADMIN, Role.ADMIN),
}
EXPECTED = {
    A.READ_SESSION: {"candidate", "exam_owner", "session_creator", "admin"},
    A.END_SESSION: {"candidate", "exam_owner", "session_creator", "admin"},
    A.WRITE_EVIDENCE: {"candidate"},
    A.REVIEW_SESSION: {"exam_owner", "session_creator", "admin"},
}


@pytest.mark.parametrize("action", list(EXPECTED))
@pytest.mark.parametrize("actor", list(ACTORS))
def test_session_actions(action: policy.Action, actor: str) -> None:
    assert policy.allows(ACTORS[actor], action, SESSION) is (actor in EXPECTED[action])


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.ADMIN, {A.MANAGE_EXAMS, A.MANAGE_USERS, A.CREATE_SESSION, A.LIST_SESSIONS}),
        (Role.TEACHER, {A.MANAGE_EXAMS, A.CREATE_SESSION, A.LIST_SESSIONS}),
        (Role.STUDENT, set()),
    ],
)
def test_staff_actions(role: Role, allowed: set[policy.Action]) -> None:
    staff_actions = {A.MANAGE_EXAMS, A.MANAGE_USERS, A.CREATE_SESSION, A.LIST_SESSIONS}
    for action in staff_actions:
        assert policy.allows(user(9, role), action) is (action in allowed)


def test_nobody_reviews_a_session_they_sat() -> None:
    for role in Role:
        sat_it = policy.SessionOwnership(candidate_id=7, created_by_id=7, exam_owner_id=7)
        assert not policy.allows(user(7, role), A.REVIEW_SESSION, sat_it)


@pytest.mark.parametrize(
    ("actor", "owner_id", "allowed"),
    [
        ("admin", TEACHER, True),
        ("admin", None, True),
        ("exam_owner", TEACHER, True),
        ("exam_owner", None, False),
        ("other_teacher", TEACHER, False),
        ("session_creator", TEACHER, False),
        ("candidate", CANDIDATE, False),
        ("other_student", TEACHER, False),
    ],
)
def test_risk_policy_is_the_admins_and_the_exam_owners(
    actor: str, owner_id: int | None, allowed: bool
) -> None:
    assert policy.allows_on_exam(ACTORS[actor], A.MANAGE_RISK_POLICY, owner_id) is allowed
    assert policy.allows_on_exam(ACTORS[actor], A.READ_SESSION, owner_id) is False
