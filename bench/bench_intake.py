"""SUSIE intake on one box: `vigil simulate` (SUSIE students: a 15 s audio chunk, a snapshot
every 10 s, a browser event every 30 s) against Vigil's embedded default, side by side in the
same run with a raw ceiling (bench/raw_intake_app.py: same paths, each upload written and
fsynced, nothing else). Steps N up; reports p99 per endpoint (over the whole run, and over
the requests sent once the last student joined: the steady load of a ramped run), loss and
MB/s for each.
Vigil's student accounts are written into its database before it starts, each with a
token of its own (bench/seed_students.py), so no run waits minutes for sign-ups.

    .venv/bin/python bench/bench_intake.py [--students 250,500,1000] [--duration 60] [--ramp 0]
        [--compare REF]   # also src/ of another commit (target "base"), in the same run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from rich.console import Console

from bench_events import vigil_source
from common import child_pids, cpu_seconds, free_port
from vigil.simulate.runner import RunResult, simulate

VIGIL = str(Path(sys.executable).with_name("vigil"))
ADMIN_PASSWORD = "bench-admin-password"
UPLOADS = ("susie evidencias/audios", "susie evidencias/snapshots", "susie evidencias/eventos")


def wait_ready(url: str) -> None:
    for _ in range(300):
        try:
            httpx.post(f"{url}/auth/login", data={"username": "x", "password": "y"}, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


def fresh_postgres_database(server_url: str) -> str:
    """A new empty database on the PostgreSQL server at `server_url` (trust auth)."""
    name = f"vigil_bench_{uuid.uuid4().hex[:8]}"
    host = server_url.split("@", 1)[1].split("/", 1)[0]
    create = ["psql", f"postgresql://postgres@{host}/postgres", "-qc", f'CREATE DATABASE "{name}"']
    subprocess.run(create, check=True, capture_output=True)
    return f"{server_url.rsplit('/', 1)[0]}/{name}"


def start(
    target: str,
    work: Path,
    database_url: str | None = None,
    workers: int = 1,
    base_src: Path | None = None,
    seeded_students: int = 0,
) -> tuple[subprocess.Popen[bytes], str, list[tuple[str, str]]]:
    """The target's server, and for Vigil `seeded_students` accounts made before it starts
    (bench/seed_students.py: (login, token) pairs)."""
    port = free_port()
    env = {
        **os.environ,
        "VIGIL_DATA_DIR": str(work / "vigil"),
        "VIGIL_LOG_LEVEL": "WARNING",
        "RAW_INTAKE_DIR": str(work / "raw"),
        "PYTHONPATH": str(Path(__file__).parents[1]),
    }
    if target == "base":  # src/ of the --compare commit shadows the editable install
        assert base_src is not None
        env["PYTHONPATH"] = str(base_src)
    env.pop("VIGIL_DATABASE_URL", None)
    if database_url:
        env["VIGIL_DATABASE_URL"] = fresh_postgres_database(database_url)
    if target in ("vigil", "base"):
        subprocess.run([VIGIL, "migrate"], env=env, check=True, capture_output=True)
        subprocess.run(
            [
                VIGIL,
                "users",
                "create",
                "--login",
                "admin",
                "--password",
                ADMIN_PASSWORD,
                "--role",
                "admin",
            ],
            env=env,
            capture_output=True,
        )
        logins = seed_students(env, seeded_students) if seeded_students else []
        cmd = [VIGIL, "serve", "--port", str(port), "--workers", str(workers)]
    else:
        logins = []
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "bench.raw_intake_app:create_app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
    log = (work / f"{target}.log").open("ab")
    process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url)
    return process, url, logins


def seed_students(env: dict[str, str], count: int) -> list[tuple[str, str]]:
    seeder = [sys.executable, str(Path(__file__).with_name("seed_students.py"))]
    made = subprocess.run(
        [*seeder, str(count), uuid.uuid4().hex[:6]],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return [(login, token) for login, token in json.loads(made.stdout)]


def run(
    target: str,
    students: int,
    duration: float,
    work: Path,
    database_url: str | None,
    workers: int,
    ramp: float,
    accounts: int,
    base_src: Path | None = None,
) -> tuple[RunResult, float]:
    seeded = students if accounts == 0 else min(accounts, students)
    process, url, logins = start(target, work, database_url, workers, base_src, seeded)
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample_tree_cpu, args=(process.pid, samples, stop))
    sampler.start()
    try:
        result = asyncio.run(
            simulate(url, students=students, duration=duration, admin_login="admin",
                     admin_password="" if target == "raw" else ADMIN_PASSWORD,
                     accounts=accounts, verify=target != "raw", spark_share=0.0, ramp=ramp,
                     console=Console(quiet=True), logins=logins)
        )  # fmt: skip
    finally:
        stop.set()
        sampler.join()
        process.terminate()
        process.wait(timeout=60)
    return result, load_cpu_percent(samples, result.started, result.started + result.seconds)


def tree_cpu(pid: int) -> float:
    """CPU of a process and its children (uvicorn's workers, the analysis processes)."""
    return cpu_seconds(pid) + sum(_cpu_or_zero(child) for child in child_pids(pid))


def _cpu_or_zero(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except FileNotFoundError:
        return 0.0


def sample_tree_cpu(pid: int, samples: list[tuple[float, float]], stop: threading.Event) -> None:
    while not stop.wait(0.25):
        samples.append((time.monotonic(), tree_cpu(pid)))


def load_cpu_percent(samples: list[tuple[float, float]], begin: float, end: float) -> float:
    """The server's CPU while the students sat, as % of one core: not the sign-ins before
    the load nor the read-back after it."""
    inside = [(moment, cpu) for moment, cpu in samples if begin <= moment <= end]
    if len(inside) < 2:
        return float("nan")
    (first_moment, first_cpu), (last_moment, last_cpu) = inside[0], inside[-1]
    return (last_cpu - first_cpu) / (last_moment - first_moment) * 100


def line(target: str, students: int, result: RunResult, server_cpu: float) -> str:
    traffic = result.traffic
    acked = sum(traffic.acked[e] for e in UPLOADS)
    p99 = max(traffic.percentile(e, 0.99) for e in UPLOADS) * 1000
    p99_joined = max(traffic.percentile(e, 0.99, since=result.all_joined) for e in UPLOADS) * 1000
    p50 = max(traffic.percentile(e, 0.5) for e in UPLOADS) * 1000
    lost = result.verification.lost + sum(traffic.failed.values())
    rejected = sum(traffic.rejected.values())
    retried = sum(traffic.retried.values())
    rate, megabytes = acked / result.seconds, traffic.bytes_acked / 1e6 / result.seconds
    return (f"| {target} | {students} | {acked} | {rate:.0f} | {megabytes:.2f} | {p50:.0f} "
            f"| {p99:.0f} | {p99_joined:.0f} | {retried} | {rejected} | {lost} "
            f"| {server_cpu:.0f}% |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", default="250,500,1000")
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--database-url", help="PostgreSQL server URL: Vigil gets a new database")
    parser.add_argument("--workers", type=int, default=1, help="vigil serve --workers")
    parser.add_argument("--targets", default="raw,vigil")
    parser.add_argument("--compare", metavar="REF",
                        help="also run src/ of this git ref, as target `base`")  # fmt: skip
    parser.add_argument("--ramp", type=float, default=0.0,
                        help="students join over this many seconds (0: all at once)")  # fmt: skip
    parser.add_argument("--accounts", type=int, default=0,
                        help="student accounts shared by the students (0: one each, as in "
                             "an exam: each token seen every few seconds)")  # fmt: skip
    args = parser.parse_args()
    rows = ["| target | SUSIE students | uploads acked | uploads/s | MB/s "
            "| p50 ms (worst endpoint) | p99 ms (worst endpoint) | p99 ms once all joined "
            "| retried | rejected | lost | server CPU |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    targets = args.targets.split(",")
    scratch = Path(tempfile.mkdtemp(prefix="vigil-intake-src-"))
    base_src, base_label = None, ""
    if args.compare:
        base_src, base_label = vigil_source(scratch, args.compare)
        targets.append("base")
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, nproc={os.cpu_count()}, "
          f"ramp {args.ramp:g} s, {args.duration:g} s, "
          f"accounts {args.accounts or 'one per student'}"
          + (f"; base = {base_label}" if base_label else ""))  # fmt: skip
    for students in [int(n) for n in args.students.split(",")]:
        for target in targets:
            work = Path(tempfile.mkdtemp(prefix=f"vigil-intake-{target}-"))
            try:
                result, server_cpu = run(
                    target,
                    students,
                    args.duration,
                    work,
                    args.database_url,
                    args.workers,
                    args.ramp,
                    args.accounts,
                    base_src,
                )
            finally:
                shutil.rmtree(work, ignore_errors=True)
            rows.append(line(target, students, result, server_cpu))
            print(rows[-1], flush=True)
    print("\n".join(rows))
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
