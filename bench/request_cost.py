"""Server CPU per request, one request at a time against a live `vigil serve`: a bare
`/healthz`, and SUSIE's session start, browser event, 75 KB audio chunk, snapshot and
session end, each for its own session as a student's first of each would be. CPU is read
from /proc: the whole process, and its event-loop (main) thread alone, which is what
bounds how many requests one process answers.

    .venv/bin/python bench/request_cost.py [--requests 200] [--compare REF --rounds 2]

With --compare, src/ of REF runs the same requests, the two alternating round by round.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench_events import vigil_env, vigil_source
from common import cpu_seconds, free_port, wait_ready
from vigil.simulate.media import jpeg_snapshot, webm_opus_audio

VIGIL = str(Path(sys.executable).with_name("vigil"))
SUSIE = "/susie/api/v1/monitoreo"
STUDENT = "s@bench.dev"


def main_thread_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


def calls(http: httpx.Client, auth: dict[str, str]) -> dict[str, Callable[[str, int], object]]:
    audio, snapshot = webm_opus_audio(15.0), jpeg_snapshot()

    def meta(session: str, i: int) -> dict[str, str]:
        moment = f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z"
        return {"correlation_id": session, "student_id": STUDENT, "timestamp": moment}

    def form(session: str, i: int, info: dict[str, object]) -> dict[str, str]:
        return {"meta": json.dumps(meta(session, i)), "payload_info": json.dumps(info)}

    return {
        "GET /healthz": lambda s, i: http.get("/healthz"),
        "POST SUSIE sesiones/start": lambda s, i: http.post(
            f"{SUSIE}/sesiones/start", headers=auth,
            json={"examSessionId": s, "examId": "bench", "userId": STUDENT}),
        "POST SUSIE evidencias/eventos": lambda s, i: http.post(
            f"{SUSIE}/evidencias/eventos", headers=auth,
            json={"meta": meta(s, i), "payload_info": {"trigger": "TAB_SWITCH"}}),
        "POST SUSIE evidencias/audios (75 KB)": lambda s, i: http.post(
            f"{SUSIE}/evidencias/audios", headers=auth,
            data=form(s, i, {"chunk_index": i}),
            files={"file": ("a.webm", audio, "audio/webm")}),
        "POST SUSIE evidencias/snapshots (9 KB)": lambda s, i: http.post(
            f"{SUSIE}/evidencias/snapshots", headers=auth,
            data=form(s, i, {"trigger": "PERIODIC", "browser_focus": True}),
            files={"file": ("s.jpg", snapshot, "image/jpeg")}),
        "POST SUSIE sesiones/end": lambda s, i: http.post(
            f"{SUSIE}/sesiones/end", headers=auth, json={"examSessionId": s}),
    }  # fmt: skip


def measure(src: Path | None, requests: int) -> dict[str, tuple[float, float, float]]:
    """(process CPU ms, main-thread CPU ms, wall ms) per request, by request."""
    data_dir = Path(tempfile.mkdtemp(prefix="vigil-cost-"))
    env = vigil_env(data_dir, src)
    env.update(VIGIL_LOG_LEVEL="WARNING", VIGIL_ANALYSIS_WORKERS="0")
    subprocess.run([VIGIL, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([VIGIL, "users", "create", "--login", STUDENT, "--email", STUDENT,
                    "--password", "password1", "--role", "student"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    port = free_port()
    server = subprocess.Popen([VIGIL, "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    results: dict[str, tuple[float, float, float]] = {}
    try:
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}")
        wait_ready(f"http://127.0.0.1:{port}")
        login = http.post("/auth/login", data={"username": STUDENT, "password": "password1"})
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        for name, call in calls(http, auth).items():
            for i in range(20):  # warm-up, in sessions of their own
                call(f"warm-{i}", 10_000 + i).raise_for_status()  # type: ignore[attr-defined]
            process, main = cpu_seconds(server.pid), main_thread_cpu(server.pid)
            started = time.perf_counter()
            for i in range(requests):
                call(f"s{i}", i).raise_for_status()  # type: ignore[attr-defined]
            results[name] = (
                (cpu_seconds(server.pid) - process) * 1000 / requests,
                (main_thread_cpu(server.pid) - main) * 1000 / requests,
                (time.perf_counter() - started) * 1000 / requests,
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--compare", metavar="REF", help="also run src/ of this git ref")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="vigil-cost-src-"))
    targets: list[tuple[str, Path | None]] = [("working tree", None)]
    if args.compare:
        src, label = vigil_source(scratch, args.compare)
        targets.append((label, src))
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.requests} requests each")
    print("| round | Vigil | request | process CPU ms | event-loop thread CPU ms | wall ms |")
    print("|---|---|---|---:|---:|---:|")
    for round_number in range(1, args.rounds + 1):
        for label, src in targets:
            for name, (process, main, wall) in measure(src, args.requests).items():
                print(f"| {round_number} | {label} | {name} | {process:.2f} | {main:.2f} "
                      f"| {wall:.1f} |", flush=True)  # fmt: skip
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
