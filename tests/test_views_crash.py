"""A process killed between writing a view file's temporary copy and renaming it into place
leaves the previous file whole: never half-written, never lost."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from vigil.storage import views

    target = Path(sys.argv[1])
    views.write_json_atomically(target, {"version": 1, "answers": ["a"] * 1000})
    real_replace = os.replace

    def die_before_rename(src, dst):
        os.kill(os.getpid(), signal.SIGKILL)  # the temporary copy is written and fsynced

    os.replace = die_before_rename
    views.write_json_atomically(target, {"version": 2, "answers": ["b"] * 1000})
    """
)


def test_kill_between_temp_write_and_rename_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "attempts" / "7" / "exam" / "1.json"
    run = subprocess.run([sys.executable, "-c", WRITER, str(target)], timeout=60, check=False)
    assert run.returncode == -signal.SIGKILL
    assert json.loads(target.read_text()) == {"version": 1, "answers": ["a"] * 1000}
    leftovers = [p for p in target.parent.iterdir() if p != target]
    assert [p.name.endswith(".tmp") and p.name.startswith(".1.json.") for p in leftovers] == [True]
    assert json.loads(leftovers[0].read_text())["version"] == 2  # complete, but never in place
