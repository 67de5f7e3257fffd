"""Autosave under load: N students, each with an active attempt, autosave every few seconds
(`PUT /api/attempts/{id}`), against a live `vigil serve` (embedded default). In the same
run, `GET /healthz` is sampled at the same pace as the baseline.

    .venv/bin/python bench/bench_autosave.py [--students 200] [--every 5] [--duration 30]
        [--compare REF --rounds N]   # the same load on src/ of another commit, alternating
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

from bench_events import vigil_env, vigil_source
from common import cpu_seconds, free_port, wait_ready

VIGIL = str(Path(sys.executable).with_name("vigil"))
PASSWORD = "bench-student-1"
QUESTIONS = 20


def exam_dir(root: Path) -> Path:
    questions = [{"id": f"q{i}", "type": "short_text", "prompt": f"Question {i}"}
                 for i in range(QUESTIONS)]  # fmt: skip
    exam = {"examId": "bench-exam", "title": "Bench", "questions": questions}
    (root / "input").mkdir(parents=True)
    (root / "input" / "bench-exam.json").write_text(json.dumps(exam))
    (root / "manifest.json").write_text(json.dumps({"exams": {"bench-exam": {"published": True}}}))
    return root


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def sign_in(http: httpx.AsyncClient, login: str) -> tuple[dict[str, str], str]:
    token = await http.post("/auth/login", data={"username": login, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    attempt = (await http.post("/api/exams/bench-exam/attempt", headers=headers)).json()
    return headers, attempt["attemptId"]


async def student(
    http: aiohttp.ClientSession,
    signed_in: tuple[dict[str, str], str],
    every: float,
    until: float,
    saves: list[float],
) -> None:
    headers, attempt_id = signed_in
    await asyncio.sleep(random.uniform(0, every))
    n = 0
    while time.monotonic() < until:
        answer = {"questionId": f"q{n % QUESTIONS}", "response": f"answer {n}"}
        started = time.perf_counter()
        async with http.put(
            f"/api/attempts/{attempt_id}", headers=headers, json={"answers": [answer]}
        ) as saved:
            saved.raise_for_status()
            await saved.read()
        saves.append((time.perf_counter() - started) * 1000)
        n += 1
        await asyncio.sleep(every)


async def baseline(
    http: aiohttp.ClientSession, rate: float, until: float, samples: list[float]
) -> None:
    while time.monotonic() < until:
        started = time.perf_counter()
        async with http.get("/healthz") as answer:
            answer.raise_for_status()
            await answer.read()
        samples.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(1 / rate)


async def load(
    url: str, students: int, every: float, duration: float, server_pid: int
) -> tuple[list[float], list[float], float]:
    limits = httpx.Limits(max_connections=students + 10)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        gate = asyncio.Semaphore(4)  # each sign-in is an argon2 check on the server

        async def enrol(i: int) -> tuple[dict[str, str], str]:
            async with gate:
                body = {"email": f"s{i}@bench.dev", "password": PASSWORD, "role": "student"}
                (await http.post("/auth/register", json=body)).raise_for_status()
                return await sign_in(http, f"s{i}@bench.dev")

        signed_in = list(await asyncio.gather(*(enrol(i) for i in range(students))))
    # The timed load goes through aiohttp: httpx costs the client several times more CPU
    # per request, and the client shares the two cores with the server it measures.
    connector = aiohttp.TCPConnector(limit=students + 10, keepalive_timeout=3.0)
    async with aiohttp.ClientSession(url, connector=connector) as timed:
        started = time.monotonic()
        before = cpu_seconds(server_pid)  # the timed window only: no sign-ins
        until = started + duration + every
        saves: list[float] = []
        health: list[float] = []
        await asyncio.gather(
            *(student(timed, who, every, until, saves) for who in signed_in),
            baseline(timed, students / every, until, health),
        )
        cpu = (cpu_seconds(server_pid) - before) / (time.monotonic() - started) * 100
    return saves, health, cpu


def run_once(src: Path | None, args: argparse.Namespace) -> tuple[list[float], list[float], float]:
    """One server (the working tree, or `src` of another commit), one load; the latencies
    of the autosaves and of the baseline, and the server's CPU share."""
    work = Path(tempfile.mkdtemp(prefix="vigil-autosave-"))
    env = vigil_env(work / "data", src)
    env["VIGIL_LOG_LEVEL"] = "WARNING"
    env.update(dict(setting.split("=", 1) for setting in args.server_env))
    subprocess.run([VIGIL, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([VIGIL, "exams", "import", str(exam_dir(work / "exams"))], env=env,
                   check=True, capture_output=True)  # fmt: skip
    port = free_port()
    server = subprocess.Popen([VIGIL, "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url)
        saves, health, cpu = asyncio.run(
            load(url, args.students, args.every, args.duration, server.pid)
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    return saves, health, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between autosaves")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--compare", metavar="REF", help="also run src/ of this git ref")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds per server")
    parser.add_argument("--server-env", action="append", default=[], metavar="VIGIL_X=VALUE",
                        help="a setting for the servers (repeatable)")  # fmt: skip
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="vigil-autosave-src-"))
    servers = [vigil_source(scratch, None)]
    if args.compare:
        servers.append(vigil_source(scratch, args.compare))
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"{when}: {args.students} students, an autosave every {args.every:g} s each, "
          f"{args.duration:g} s per round, {args.rounds} round(s) per server")  # fmt: skip
    print("| server | round | request | n | p50 ms | p99 ms | server CPU |")
    print("|---|---:|---|---:|---:|---:|---:|")
    try:
        for round_no in range(1, args.rounds + 1):
            for src, label in servers:
                saves, health, cpu = run_once(src, args)
                for name, values in (("autosave", saves), ("GET /healthz", health)):
                    print(f"| {label} | {round_no} | {name} | {len(values)} | "
                          f"{pct(values, 0.5):.1f} | {pct(values, 0.99):.1f} | {cpu:.0f}% |",
                          flush=True)  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
