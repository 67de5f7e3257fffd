"""Imports every ORM model so that `Base.metadata` (Alembic, tests) sees the whole schema."""

from vigil.core.attempts.models import ExamAttempt
from vigil.core.events.models import ProctoringEvent
from vigil.core.evidence.models import Evidence
from vigil.core.exams.models import Exam
from vigil.core.identity.models import Group, User, group_members, user_changes
from vigil.core.sessions.models import ProctoringSession
from vigil.core.tasks.models import PersonalTask, Task, TaskImage, VirtualMachine
from vigil.storage.db import Base

__all__ = [
    "Base",
    "Evidence",
    "Exam",
    "ExamAttempt",
    "Group",
    "PersonalTask",
    "ProctoringEvent",
    "ProctoringSession",
    "Task",
    "TaskImage",
    "User",
    "VirtualMachine",
    "group_members",
    "user_changes",
]
