"""The two ExamManager state machines, with the original numbers (docs/exammanager.md).

A personal task is checked: NOT_CHECKED → CHECKING → FAILED | SUCCESSED, and may be
checked again. A student's virtual machine is started and stopped: KILLED → LOADING →
RUNNING → KILLED, LOADING → KILLED when the start fails.
"""

from __future__ import annotations

from enum import IntEnum

from vigil.core.errors import IllegalTransition


class TaskStatus(IntEnum):
    NOT_CHECKED = 0
    FAILED = 1
    SUCCESSED = 2  # the original spelling
    CHECKING = 4


class VmStatus(IntEnum):
    RUNNING = 1
    KILLED = 2
    LOADING = 4


T = TaskStatus
TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    T.NOT_CHECKED: frozenset({T.CHECKING}),
    T.FAILED: frozenset({T.CHECKING}),
    T.SUCCESSED: frozenset({T.CHECKING}),
    T.CHECKING: frozenset({T.FAILED, T.SUCCESSED}),
}

V = VmStatus
VM_TRANSITIONS: dict[VmStatus, frozenset[VmStatus]] = {
    V.KILLED: frozenset({V.LOADING}),
    V.LOADING: frozenset({V.RUNNING, V.KILLED}),
    V.RUNNING: frozenset({V.KILLED}),
}


def task_transition(current: TaskStatus, target: TaskStatus) -> TaskStatus:
    if target not in TASK_TRANSITIONS[current]:
        if current is T.CHECKING:
            raise IllegalTransition("the task is being checked already", field="taskId")
        raise IllegalTransition(f"a task {current.name} cannot become {target.name}")
    return target


def vm_transition(current: VmStatus, target: VmStatus) -> VmStatus:
    if target not in VM_TRANSITIONS[current]:
        raise IllegalTransition(
            f"the virtual machine is {current.name}; it cannot become {target.name}", field="id"
        )
    return target
