"""Authorization: who may do what, decided here and nowhere else.

- a student reads and writes only their own sessions;
- a teacher reads, ends and reviews the sessions they created or of exams they own;
- an admin may do everything.
Only the candidate writes evidence into a session: nobody else's bytes are the candidate's.
Reviewing (dismissing an event as a false positive) is staff work on someone else's
session: a student never reviews, and nobody reviews a session they sat themselves.
An exam's risk policy is read and set by an admin or the teacher who owns the exam.
An exam attempt is its taker's alone: nobody else reads or writes it through the API.

ExamManager (practical tasks, where teachers appear as admins):
- an admin creates, changes and deletes accounts; a teacher or admin reads every user and
  manages groups, tasks and who holds which task; only an admin gives a task a checker
  command, since it runs on the server;
- anybody reads their own account and tasks, and changes their own names and password
  (not their login or role);
- a student's virtual machines and task checks are theirs alone: not even an admin starts,
  connects to or checks them for the student (an admin removes the task instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, false, or_, select, true

from vigil.core.errors import PermissionDenied
from vigil.core.identity.models import Role, User


class Action(StrEnum):
    MANAGE_EXAMS = "manage exams"
    MANAGE_USERS = "manage users"
    CREATE_SESSION = "create sessions for others"
    LIST_SESSIONS = "list sessions"
    READ_SESSION = "read this session"
    END_SESSION = "end this session"
    WRITE_EVIDENCE = "write evidence to this session"
    READ_USERS = "read other users"
    MANAGE_GROUPS = "manage groups"
    MANAGE_TASKS = "manage tasks"
    SET_TASK_CHECKER = "give a task a checker command (it runs on the server)"
    REVIEW_SESSION = "review this session"
    MANAGE_RISK_POLICY = "manage this exam's risk policy"


@dataclass(frozen=True)
class SessionOwnership:
    """Who a session belongs to, as far as authorization cares."""

    candidate_id: int | None
    created_by_id: int | None
    exam_owner_id: int | None


_STAFF_ACTIONS = {
    Role.ADMIN: {
        Action.MANAGE_EXAMS,
        Action.MANAGE_USERS,
        Action.CREATE_SESSION,
        Action.LIST_SESSIONS,
        Action.READ_USERS,
        Action.MANAGE_GROUPS,
        Action.MANAGE_TASKS,
        Action.SET_TASK_CHECKER,
    },
    Role.TEACHER: {
        Action.MANAGE_EXAMS,
        Action.CREATE_SESSION,
        Action.LIST_SESSIONS,
        Action.READ_USERS,
        Action.MANAGE_GROUPS,
        Action.MANAGE_TASKS,
    },
    Role.STUDENT: set(),
}


def allows(actor: User, action: Action, session: SessionOwnership | None = None) -> bool:
    if session is None:
        return action in _STAFF_ACTIONS[actor.role]
    is_candidate = session.candidate_id is not None and session.candidate_id == actor.id
    if action is Action.WRITE_EVIDENCE:
        return is_candidate
    if action is Action.REVIEW_SESSION:
        if is_candidate or actor.role is Role.STUDENT:
            return False
        return actor.role is Role.ADMIN or actor.id in (
            session.created_by_id,
            session.exam_owner_id,
        )
    if actor.role is Role.ADMIN or is_candidate:
        return True
    if actor.role is Role.TEACHER:
        return actor.id in (session.created_by_id, session.exam_owner_id)
    return False


def require(actor: User, action: Action, session: SessionOwnership | None = None) -> None:
    if not allows(actor, action, session):
        raise PermissionDenied(f"you may not {action.value}")


def allows_on_exam(actor: User, action: Action, exam_owner_id: int | None) -> bool:
    if action is not Action.MANAGE_RISK_POLICY:
        return False
    if actor.role is Role.ADMIN:
        return True
    return actor.role is Role.TEACHER and exam_owner_id is not None and actor.id == exam_owner_id


def require_on_exam(actor: User, action: Action, exam_owner_id: int | None) -> None:
    if not allows_on_exam(actor, action, exam_owner_id):
        raise PermissionDenied(f"you may not {action.value}")


def may_use_attempt(actor: User, attempt_user_id: int) -> bool:
    """Answers are the taker's own: not even an admin writes them for a student."""
    return actor.id == attempt_user_id


# --- ExamManager ---------------------------------------------------------------------

SELF_EDITABLE = frozenset({"password", "firstName", "lastName"})


def may_read_user(actor: User, user_id: int) -> bool:
    """A user's account and tasks: their own, or anyone's for teachers and admins."""
    return actor.id == user_id or allows(actor, Action.READ_USERS)


def require_read_user(actor: User, user_id: int) -> None:
    if not may_read_user(actor, user_id):
        raise PermissionDenied("you may read only your own account")


def require_modify_user(actor: User, user_id: int, fields: set[str]) -> None:
    """Admins change anything; anyone else only their own names and password."""
    if allows(actor, Action.MANAGE_USERS):
        return
    if actor.id != user_id:
        raise PermissionDenied("you may change only your own account")
    refused = sorted(fields - SELF_EDITABLE)
    if refused:
        raise PermissionDenied(f"only an admin may change {', '.join(refused)}")


def may_read_task(actor: User, holder_ids: set[int]) -> bool:
    """A task: those who manage tasks, and the students who hold it."""
    return allows(actor, Action.MANAGE_TASKS) or actor.id in holder_ids


def require_read_task(actor: User, holder_ids: set[int]) -> None:
    if not may_read_task(actor, holder_ids):
        raise PermissionDenied("this task is not assigned to you")


def require_lab_holder(actor: User, holder_id: int | None) -> None:
    """Virtual machines and checks of a personal task: its student only (None: nobody
    holds the task under the caller's name)."""
    if holder_id is None or actor.id != holder_id:
        raise PermissionDenied("only the student who holds this task may do this")


def require_agent_scope(token_session_id: int, session_id: int) -> None:
    """An agent token speaks for exactly one session."""
    if token_session_id != session_id:
        raise PermissionDenied(f"this agent token is not valid for session {session_id}")


def visible_sessions(actor: User) -> ColumnElement[bool]:
    """A WHERE clause on proctoring_sessions selecting what `actor` may read."""
    from vigil.core.exams.models import Exam
    from vigil.core.sessions.models import ProctoringSession as S

    if actor.role is Role.ADMIN:
        return true()
    if actor.role is Role.TEACHER:
        owned_exams = select(Exam.id).where(Exam.owner_id == actor.id)
        return or_(
            S.candidate_id == actor.id, S.created_by_id == actor.id, S.exam_id.in_(owned_exams)
        )
    if actor.role is Role.STUDENT:
        return S.candidate_id == actor.id
    return false()
