"""Lab fixtures: a control program for the script driver, qcow2 base images for libvirt."""

from __future__ import annotations

import shlex
import stat
import struct
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

CONTROL_PROGRAM = Path(__file__).with_name("control_program.py")


@pytest.fixture
def control_program(tmp_path: Path) -> Callable[[str], Path]:
    """An executable `PROGRAM COMMAND ARGS...` that runs control_program.py in a mode."""
    state = tmp_path / "vms"
    state.mkdir()

    def make(mode: str = "normal") -> Path:
        wrapper = tmp_path / f"labctl-{mode}"
        python, program = shlex.quote(sys.executable), shlex.quote(str(CONTROL_PROGRAM))
        wrapper.write_text(
            f'#!/bin/sh\nexec {python} {program} {shlex.quote(str(state))} {mode} "$@"\n'
        )
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
        return wrapper

    return make


def write_qcow2_header(path: Path, virtual_size: int) -> Path:
    """The first 104 bytes of a real qcow2 v3 image: what libvirt's overlay sizing reads."""
    header = struct.pack(">4sIQIIQIIQQIIQQQQII", b"QFI\xfb", 3, 0, 0, 16, virtual_size,
                         0, 1, 0x30000, 0x10000, 1, 0, 0, 0, 0, 0, 4, 104)  # fmt: skip
    path.write_bytes(header)
    return path
