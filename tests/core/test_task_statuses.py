"""ExamManager's task and VM state machines as pure functions, with the contract's numbers."""

from __future__ import annotations

import pytest

from vigil.core.errors import IllegalTransition
from vigil.core.tasks.statuses import TaskStatus, VmStatus, task_transition, vm_transition
from vigil.labs.driver import VmState

T, V = TaskStatus, VmStatus
TASK_ALLOWED = {
    (T.NOT_CHECKED, T.CHECKING), (T.FAILED, T.CHECKING), (T.SUCCESSED, T.CHECKING),
    (T.CHECKING, T.FAILED), (T.CHECKING, T.SUCCESSED),
}  # fmt: skip
VM_ALLOWED = {
    (V.KILLED, V.LOADING),
    (V.LOADING, V.RUNNING),
    (V.LOADING, V.KILLED),
    (V.RUNNING, V.KILLED),
}


def test_numbers_are_the_contracts() -> None:
    assert {s.name: s.value for s in T} == {
        "NOT_CHECKED": 0, "FAILED": 1, "SUCCESSED": 2, "CHECKING": 4,
    }  # fmt: skip
    assert {s.name: s.value for s in V} == {"RUNNING": 1, "KILLED": 2, "LOADING": 4}
    assert {s.name: s.value for s in V} == {s.name: s.value for s in VmState}


@pytest.mark.parametrize("current", list(T))
@pytest.mark.parametrize("target", list(T))
def test_task_pairs(current: TaskStatus, target: TaskStatus) -> None:
    if (current, target) in TASK_ALLOWED:
        assert task_transition(current, target) is target
    else:
        with pytest.raises(IllegalTransition):
            task_transition(current, target)


def test_a_second_check_while_checking_names_the_task() -> None:
    with pytest.raises(IllegalTransition, match="being checked already") as raised:
        task_transition(T.CHECKING, T.CHECKING)
    assert raised.value.field == "taskId"


@pytest.mark.parametrize("current", list(V))
@pytest.mark.parametrize("target", list(V))
def test_vm_pairs(current: VmStatus, target: VmStatus) -> None:
    if (current, target) in VM_ALLOWED:
        assert vm_transition(current, target) is target
    else:
        with pytest.raises(IllegalTransition, match=f"is {current.name}"):
            vm_transition(current, target)
