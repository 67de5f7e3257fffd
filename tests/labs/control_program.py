# ruff: noqa: T201  (printing JSON on stdout is this program's protocol)
"""An ExamManager control program for the tests: VM state kept as JSON files in a folder.

Run as `control_program.py STATE_DIR MODE COMMAND ARGS...` (a wrapper supplies the first
two). MODE `normal` follows the protocol; the others misbehave the ways real ones do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

NOT_FOUND = 3


def main(argv: list[str]) -> int:
    state_dir, mode, command, *args = argv
    state = Path(state_dir)
    (state / "calls.log").open("a").write(" ".join([command, *args]) + "\n")
    if mode == "hang":
        time.sleep(600)
    if mode == "hang-with-child":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        (state / "child.pid").write_text(str(child.pid))
        time.sleep(600)
    if mode == "background-vm":  # starts the VM in the background, which keeps stdout open
        vm = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        (state / "child.pid").write_text(str(vm.pid))
        print(json.dumps({"vmid": f"bg-{vm.pid}", "status": 1}))
        return 0
    if mode == "garbage":
        print("Traceback (most recent call last): <html>oops")
        return 0
    if mode == "missing-fields":
        print(json.dumps({"status": 1}))
        return 0
    if mode == "fails":
        print("libvirt: cannot allocate memory", file=sys.stderr)
        print("no room for another VM on host lab-07", file=sys.stderr)
        return 1
    if mode == "environment":
        leaked = sorted(key for key in os.environ if key.startswith("VIGIL_"))
        print(json.dumps({"passed": not leaked, "message": ",".join(leaked)}))
        return 0
    return normal(state, command, args)


def normal(state: Path, command: str, args: list[str]) -> int:
    if command == "create_instance":
        vm_id = f"{args[0]}-{uuid.uuid4().hex[:8]}"
        vm = {"vmid": vm_id, "status": 4, "address": "10.0.0.7", "port": 5901,
              "password": "pw-" + vm_id[-4:]}  # fmt: skip
        save(state, vm)
        print(json.dumps(vm))
        return 0
    vm_file = state / f"{args[0]}.json"
    if not vm_file.exists():
        print(f"no VM {args[0]}", file=sys.stderr)
        return NOT_FOUND
    vm = json.loads(vm_file.read_text())
    if command == "status":
        vm["status"] = "RUNNING" if vm["status"] == 4 else vm["status"]  # booted by now
        save(state, vm)
        print(json.dumps(vm))
    elif command == "kill":
        vm_file.unlink()
    elif command == "check":
        task_id, personal_task_id = args[1], args[2]
        solved = (state / f"{args[0]}.solved").exists()
        message = f"task {task_id} ({personal_task_id}): " + ("done" if solved else "not yet")
        print(json.dumps({"passed": solved, "message": message}))
    else:
        print(f"unknown command {command}", file=sys.stderr)
        return 2
    return 0


def save(state: Path, vm: dict[str, object]) -> None:
    (state / f"{vm['vmid']}.json").write_text(json.dumps(vm))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
