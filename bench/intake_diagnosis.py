"""What bounds SUSIE intake: one `vigil serve` under `vigil simulate`, with the server's
CPU split by thread (the event loop against the blob and SQLite threads, user and system
time) and by analysis child process (embedded default; none with VIGIL_ANALYSIS_WORKERS=0),
what the event-loop thread was doing when sampled (running, idle in epoll, waiting for the
GIL), the simulator's own CPU, latency in 5 s windows, and the group-commit batch sizes
from /metrics.

    VIGIL_ANALYSIS_WORKERS=0 .venv/bin/python bench/intake_diagnosis.py --students 2000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
from rich.console import Console

from bench_intake import ADMIN_PASSWORD, start
from common import child_pids
from vigil.simulate.runner import simulate

WINDOW = 5.0


def thread_times(pid: int) -> dict[str, tuple[float, float]]:
    """(user, system) CPU seconds of the event-loop thread ("loop") and all others."""
    totals = {"loop": [0.0, 0.0], "other threads": [0.0, 0.0]}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        which = totals["loop" if task.name == str(pid) else "other threads"]
        which[0] += int(fields[11]) / 100
        which[1] += int(fields[12]) / 100
    totals.update(analysis_children_times(pid))
    return {name: (user, system) for name, (user, system) in totals.items()}


def analysis_children_times(pid: int) -> dict[str, list[float]]:
    """(user, system) CPU seconds of each child process (the analysis, embedded default)."""
    children: dict[str, list[float]] = {}
    for child in child_pids(pid):
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        children[f"child {child}"] = [int(fields[11]) / 100, int(fields[12]) / 100]
    return children


def sample_loop_thread(pid: int, states: Counter[str], stop: threading.Event) -> None:
    names = {"R": "running", "D": "in the kernel (disk)"}
    while not stop.is_set():
        try:
            state = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            wait = Path(f"/proc/{pid}/task/{pid}/wchan").read_text()
        except FileNotFoundError:
            return
        if state == "S":
            states["idle (epoll)" if "epoll" in wait else "waiting (GIL or lock)"] += 1
        else:
            states[names.get(state, state)] += 1
        time.sleep(0.002)


def profile(pid: int, args: argparse.Namespace) -> None:
    begin = args.ramp + 5 if args.profile_from is None else args.profile_from
    time.sleep(begin)
    seconds = max(5, min(40, int(args.duration - begin - 5)))
    py_spy = [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid)]
    subprocess.run(
        [*py_spy, "--duration", str(seconds), "--rate", "100", "--nonblocking", "--threads",
         "--format", "raw", "--output", args.profile],
        check=True, capture_output=True,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=80)
    parser.add_argument("--ramp", type=float, default=20)
    parser.add_argument("--accounts", type=int, default=0, help="0: one per student")
    parser.add_argument("--profile", metavar="FILE",
                        help="py-spy samples of the server (raw format), at most 40 s "
                             "(needs `.venv/bin/pip install py-spy`)")  # fmt: skip
    parser.add_argument("--profile-from", type=float, metavar="SECONDS",
                        help="start the profile this many seconds in (default: 5 s after the "
                             "ramp), e.g. 0 to see the students join")  # fmt: skip
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vigil-diagnosis-"))
    seeded = args.students if args.accounts == 0 else min(args.accounts, args.students)
    process, url, logins = start("vigil", work, seeded_students=seeded)
    states: Counter[str] = Counter()
    stop = threading.Event()
    threading.Thread(target=sample_loop_thread, args=(process.pid, states, stop)).start()
    if args.profile:
        threading.Thread(target=profile, args=(process.pid, args)).start()
    try:
        before, began, own = thread_times(process.pid), time.monotonic(), os.times()
        result = asyncio.run(
            simulate(url, students=args.students, duration=args.duration,
                     admin_login="admin", admin_password=ADMIN_PASSWORD,
                     accounts=args.accounts, verify=False, spark_share=0.0, ramp=args.ramp,
                     console=Console(quiet=True), logins=logins)
        )  # fmt: skip
        seconds, after, own_after = time.monotonic() - began, thread_times(process.pid), os.times()
        metrics = httpx.get(f"{url}/metrics").text
    finally:
        stop.set()
        process.terminate()
        process.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {args.students} SUSIE "
          f"students, ramp {args.ramp:g} s, {args.duration:g} s; CPU as % of one core over "
          f"{seconds:.0f} s")  # fmt: skip
    for name, (user, system) in after.items():
        user, system = user - before.get(name, (0, 0))[0], system - before.get(name, (0, 0))[1]
        print(f"  server {name}: user {user / seconds:.0%}, system {system / seconds:.0%}")
    simulator = own_after.user - own.user, own_after.system - own.system
    print(f"  simulator: user {simulator[0] / seconds:.0%}, system {simulator[1] / seconds:.0%}")
    sampled = sum(states.values())
    print("  event-loop thread: " + ", ".join(
        f"{name} {count / sampled:.0%}" for name, count in states.most_common()))  # fmt: skip
    for line in metrics.splitlines():
        if line.startswith(("vigil_evidence_commit_rows_", "vigil_group_commit_units_")) and (
            "_sum" in line or "_count" in line
        ):
            print("  " + line)
    for endpoint in sorted(result.traffic.latencies):
        traffic = result.traffic
        print(f"  {endpoint}: {traffic.acked[endpoint]} acked, "
              f"p50 {traffic.percentile(endpoint, 0.5) * 1000:.0f} ms, "
              f"p99 {traffic.percentile(endpoint, 0.99) * 1000:.0f} ms")  # fmt: skip
    windows: dict[int, list[float]] = defaultdict(list)
    for endpoint, latencies in result.traffic.latencies.items():
        for moment, latency in zip(result.traffic.sent_at[endpoint], latencies, strict=True):
            windows[int((moment - result.started) // WINDOW)].append(latency)
    print("  | sent from s | requests | p50 ms | p99 ms |")
    for window, values in sorted(windows.items()):
        values.sort()
        print(f"  | {window * WINDOW:.0f} | {len(values)} | {values[len(values) // 2] * 1000:.0f} "
              f"| {values[int(len(values) * 0.99)] * 1000:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
