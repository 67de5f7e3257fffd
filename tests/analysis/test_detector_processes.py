"""The analysis child processes of a server (embedded mode) run behind its requests."""

from __future__ import annotations

import os

import pytest

from vigil.analysis import detectors


def scheduling_policy(_data: bytes) -> int:
    return os.sched_getscheduler(0)


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policy")
def test_the_children_run_only_on_cpu_the_server_leaves_idle() -> None:
    detectors.analyze_in_processes(1)
    try:
        assert detectors._run(scheduling_policy, b"") == os.SCHED_IDLE
        assert os.sched_getscheduler(0) != os.SCHED_IDLE  # the server itself is untouched
    finally:
        detectors.stop_processes()
