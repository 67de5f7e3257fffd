"""An attempt and the candidate's proctoring session for the same exam, linked whichever
starts first, so that a reviewer sees the answers beside the evidence.

"The same exam": the session's exam, or for a session a client opened by its own ids
(SUSIE), the exam reference it gave (`examId`/`exam_id`, matched with the exam's public id).
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import Executable

from vigil.core.attempts.models import ExamAttempt
from vigil.core.attempts.statuses import AttemptStatus
from vigil.core.exams.models import Exam
from vigil.core.sessions.models import ProctoringSession
from vigil.core.sessions.statuses import OPEN


async def link_open_session(db: AsyncSession, attempt: ExamAttempt, exam: Exam) -> None:
    """Link an attempt not yet linked to the candidate's latest open session for its exam."""
    if attempt.proctoring_session_id is not None:
        return
    attempt.proctoring_session_id = await db.scalar(
        select(ProctoringSession.id)
        .where(
            ProctoringSession.candidate_id == attempt.user_id,
            ProctoringSession.status.in_(list(OPEN)),
            or_(
                ProctoringSession.exam_id == exam.id,
                ProctoringSession.external_exam_ref == exam.public_id,
            ),
        )
        .order_by(ProctoringSession.id.desc())
        .limit(1)
    )


def _link_statement(by_external_ref: bool) -> Executable:
    attempts, exams = cast(Table, ExamAttempt.__table__), cast(Table, Exam.__table__)
    exam = exams.c.id == bindparam("b_exam_id")
    if by_external_ref:
        exam = or_(exam, exams.c.external_ref == bindparam("b_exam_ref"))
    return (
        update(attempts)
        .where(
            attempts.c.user_id == bindparam("b_candidate_id"),
            attempts.c.status == AttemptStatus.ACTIVE,
            attempts.c.proctoring_session_id.is_(None),
            attempts.c.exam_id.in_(select(exams.c.id).where(exam)),
        )
        .values(proctoring_session_id=bindparam("b_session_id"))
    )


# Built once: every session start runs one of them. A Core UPDATE of the table: the ORM's
# bulk-update path (nothing loaded here needs synchronising) was half of a start's cost.
_LINK = {by_ref: _link_statement(by_ref) for by_ref in (False, True)}


async def link_active_attempt(db: AsyncSession, session: ProctoringSession) -> None:
    """Link the candidate's active, unlinked attempt at the session's exam to it."""
    if session.candidate_id is None:
        return
    await db.execute(
        _LINK[bool(session.external_exam_ref)],
        {
            "b_candidate_id": session.candidate_id,
            "b_exam_id": session.exam_id,
            "b_exam_ref": session.external_exam_ref,
            "b_session_id": session.id,
        },
    )
