"""An attempt and the candidate's proctoring session for the same exam, linked whichever
starts first, so that a reviewer sees the answers beside the evidence.

"The same exam": the session's exam, or for a session a client opened by its own ids
(SUSIE), the exam reference it gave (`examId`/`exam_id`, matched with the exam's public id).
"""

from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

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


async def link_active_attempt(db: AsyncSession, session: ProctoringSession) -> None:
    """Link the candidate's active, unlinked attempt at the session's exam to it."""
    if session.candidate_id is None:
        return
    exam_ids = select(Exam.id).where(
        or_(Exam.id == session.exam_id, Exam.external_ref == session.external_exam_ref)
        if session.external_exam_ref
        else Exam.id == session.exam_id
    )
    await db.execute(
        update(ExamAttempt)
        .where(
            ExamAttempt.user_id == session.candidate_id,
            ExamAttempt.status == AttemptStatus.ACTIVE,
            ExamAttempt.proctoring_session_id.is_(None),
            ExamAttempt.exam_id.in_(exam_ids),
        )
        .values(proctoring_session_id=session.id)
        .execution_options(synchronize_session=False)
    )
