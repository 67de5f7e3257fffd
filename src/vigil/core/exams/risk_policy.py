"""An exam's risk policy: read it, set it, reset it; a change rescores the exam's sessions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.core import policy
from vigil.core.exams.models import Exam
from vigil.core.exams.service import get_exam
from vigil.core.identity.models import User
from vigil.core.risk import RiskPolicy, stored_policy
from vigil.core.sessions import service as sessions
from vigil.core.sessions.models import ProctoringSession


@dataclass(frozen=True)
class ExamPolicy:
    exam: Exam
    policy: RiskPolicy
    custom: bool
    sessions_rescored: int = 0


async def read_policy(db: AsyncSession, actor: User, exam_id: int) -> ExamPolicy:
    exam = await get_exam(db, exam_id)
    policy.require_on_exam(actor, policy.Action.MANAGE_RISK_POLICY, exam.owner_id)
    return ExamPolicy(exam, stored_policy(exam.risk_policy), exam.risk_policy is not None)


async def set_policy(
    db: AsyncSession, actor: User, exam_id: int, new_policy: RiskPolicy | None
) -> ExamPolicy:
    """Store `new_policy` (None: back to the default) and rescore every session of the exam."""
    exam = await get_exam(db, exam_id)
    policy.require_on_exam(actor, policy.Action.MANAGE_RISK_POLICY, exam.owner_id)
    rescored = await apply_policy(db, exam, new_policy)
    return ExamPolicy(exam, stored_policy(exam.risk_policy), exam.risk_policy is not None, rescored)


async def apply_policy(db: AsyncSession, exam: Exam, new_policy: RiskPolicy | None) -> int:
    """Set the exam's policy, authorized already (an import, say); how many sessions it
    rescored. An unchanged policy rescores nothing."""
    document: dict[str, Any] | None = None if new_policy is None else new_policy.document()
    if document == exam.risk_policy:
        return 0
    exam.risk_policy = document
    await db.flush()
    effective = stored_policy(document)
    found = (
        await db.scalars(
            select(ProctoringSession)
            .where(ProctoringSession.exam_id == exam.id)
            .order_by(ProctoringSession.id)
        )
    ).all()
    for session in found:
        await sessions.recompute_risk(db, session, effective)
    return len(found)
