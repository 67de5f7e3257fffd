"""Throughput of ProctorBE's `POST /events/` against a raw Starlette + SQLite ceiling.

    .venv/bin/python bench/bench_events.py [--duration 15] [--concurrency 16,32] ...

What it does, all on 127.0.0.1 and all torn down at the end (even on error or Ctrl-C):

1. makes three throw-away data dirs and runs `vigil migrate` in each; the Vigil measured is
   the working tree the venv imports, or with --vigil-ref REF the src/ of that git commit
   (extracted with `git archive`, put first on PYTHONPATH);
2. starts `vigil serve` (one uvicorn process) on the first, creates an admin with
   `vigil users create`, then over HTTP an exam, N students and one open session each;
3. starts bench/raw_events_app.py under uvicorn twice on copies of the same schema:
   "raw" (one connection, requests take turns on an asyncio.Lock) and "raw-pool"
   (15 connections racing for SQLite's write lock through busy_timeout, as Vigil's
   SQLAlchemy pool does); it inserts a user, an exam and N sessions directly and signs
   HS256 tokens for them with the raw server's key;
4. for each concurrency, runs every target in `--rounds` slices, alternating the order
   (A B C, C B A, A B C, ...) so machine noise falls on all of them; each slice starts
   fresh load-generator process(es) (keep-alive connections, one POST in flight per
   worker), warms up for `--slice-warmup` seconds, then records every request's latency
   for duration/rounds seconds; meanwhile it samples the CPU time of the server process,
   of the generators and of the whole machine from /proc;
5. prints a table and a Markdown block (optionally appended to a file with --markdown),
   and checks that every 200 the generators counted left exactly one row in the database.

The load generator shares the machine's cores with the server. Its default client is a
bare asyncio-streams HTTP/1.1 client (--client sockets), because httpx.AsyncClient costs
several ms of CPU per request on a small machine and then caps the raw target, not the
server (--client httpx shows it). Columns: "server CPU" and "gen CPU" are the server's and
the generators' CPU time over the measured seconds (100% = one core), "server ms/req" is
server CPU per successful request, "machine CPU" is the whole machine's busy share (100% =
all cores) and "other CPU" what neither used (other processes, kernel; 100% = one core).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import multiprocessing
import os
import platform
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import jwt

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
BIN = Path(sys.executable).parent
VIGIL = BIN / "vigil" if (BIN / "vigil").exists() else ROOT / ".venv" / "bin" / "vigil"
HOST = "127.0.0.1"
PASSWORD = "benchpass1"
ADMIN = "admin@b.org"
EVENT_QUERY = "event_type=TAB_SWITCH&severity=1"
MAX_REQUESTS_PER_WORKER = 1_000_000  # a hard bound next to the time bound
REQUEST_TIMEOUT = 35.0  # above Vigil's 30 s busy_timeout, so a lock wait is not cut short
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- load generator (runs in child processes) -------------------------------------------


def _generator_main(spec: dict[str, Any], pipe: Connection) -> None:
    try:
        pipe.send(asyncio.run(_generate(spec)))
    except BaseException as exc:  # report, never hang the parent
        pipe.send({"fatal": repr(exc)})
    finally:
        pipe.close()


class HttpxPoster:
    """One POST at a time through a shared httpx.AsyncClient (keep-alive pool)."""

    def __init__(self, client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
        self.client, self.url, self.headers = client, url, headers

    async def post(self) -> tuple[bool, str]:
        try:
            response = await self.client.post(self.url, headers=self.headers)
        except httpx.HTTPError as exc:
            return False, repr(exc)
        if response.status_code == 200:
            return True, ""
        return False, f"HTTP {response.status_code}: {response.text[:120]}"

    async def close(self) -> None:
        pass


class SocketPoster:
    """One POST at a time on its own keep-alive connection, spoken with asyncio streams.

    A bare HTTP/1.1 client: a prepared request, a status line and Content-Length
    (both servers are uvicorn, which always sends it). It costs a fraction of httpx's
    CPU, which matters when the generator shares two cores with the server.
    """

    def __init__(self, base_url: str, url: str, headers: dict[str, str]) -> None:
        self.host, port = base_url.removeprefix("http://").split(":")
        self.port = int(port)
        lines = [f"POST {url} HTTP/1.1", f"Host: {self.host}:{self.port}", "Content-Length: 0"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self) -> tuple[bool, str]:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                if self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
                assert self.reader is not None
                self.writer.write(self.request)
                head = await self.reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                marker = head.lower().find(b"\r\ncontent-length:")
                if marker < 0:
                    raise ValueError("response without Content-Length")
                length = int(head[marker + 17 : head.index(b"\r\n", marker + 2)])
                body = await self.reader.readexactly(length)
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
            await self.close()  # the stream's state is unknown: start a new one
            return False, repr(exc)
        if status == 200:
            return True, ""
        return False, f"HTTP {status}: {body[:120].decode(errors='replace')}"

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def _generate(spec: dict[str, Any]) -> dict[str, Any]:
    jobs: list[tuple[str, dict[str, str]]] = spec["jobs"]
    workers = len(jobs)
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    out: dict[str, Any] = {"latencies": [], "ok": 0, "errors": 0, "warm_ok": 0, "samples": []}
    async with httpx.AsyncClient(
        base_url=spec["base_url"], limits=limits, timeout=REQUEST_TIMEOUT
    ) as client:
        posters: list[HttpxPoster | SocketPoster] = [
            HttpxPoster(client, url, headers)
            if spec["client"] == "httpx"
            else SocketPoster(spec["base_url"], url, headers)
            for url, headers in jobs
        ]

        async def worker(poster: HttpxPoster | SocketPoster, until: float, record: bool) -> None:
            for _ in range(MAX_REQUESTS_PER_WORKER):
                if time.time() >= until:
                    return
                started = time.perf_counter()
                good, problem = await poster.post()
                elapsed_ms = (time.perf_counter() - started) * 1000.0
                if not record:
                    out["warm_ok"] += good
                elif good:
                    out["ok"] += 1
                    out["latencies"].append(elapsed_ms)
                else:
                    out["errors"] += 1
                    if len(out["samples"]) < 3:
                        out["samples"].append(problem)

        async def phase(until: float, record: bool) -> None:
            await asyncio.gather(*(worker(p, until, record) for p in posters))

        try:
            await asyncio.sleep(max(0.0, spec["start_at"] - time.time()))
            await phase(spec["measure_at"], record=False)
            cpu0, t0 = time.process_time(), time.time()
            await phase(spec["measure_at"] + spec["duration"], record=True)
            out["cpu"] = time.process_time() - cpu0
            out["elapsed"] = time.time() - t0
        finally:
            for poster in posters:
                await poster.close()
    return out


# --- servers and data -------------------------------------------------------------------


@dataclass
class Target:
    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    db_path: Path
    log_path: Path
    jobs: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    setup_ok: int = 0  # 200s counted by the generators, for the row check

    def job(self, worker: int) -> tuple[str, dict[str, str]]:
        return self.jobs[worker % len(self.jobs)]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def vigil_env(data_dir: Path, src: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env["VIGIL_DATA_DIR"] = str(data_dir)
    if src is not None:  # a snapshot of src/ that shadows the editable install
        env["PYTHONPATH"] = str(src)
    return env


def run_vigil(data_dir: Path, src: Path | None, *args: str) -> None:
    subprocess.run(
        [str(VIGIL), *args],
        env=vigil_env(data_dir, src),
        check=True,
        capture_output=True,
        timeout=120,
    )


def git(*args: str) -> str:
    result = subprocess.run(
        ["git", "--no-optional-locks", "-C", str(ROOT), *args],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return result.stdout.decode().strip()


def vigil_source(work: Path, ref: str | None) -> tuple[Path | None, str]:
    """Which Vigil runs: the working tree (None), or src/ of a git ref extracted to work/."""
    if ref is None:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "src")
        return None, f"working tree at {head}" + (
            " with uncommitted changes in src/" if dirty else ""
        )
    commit = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "src"],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    dest = work / "vigil-src"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest / "src", f"commit {commit[:7]} (git archive of src/)"


def start_server(
    cmd: Sequence[str], env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    log = log_path.open("wb")
    try:
        # Its own process group, so stopping it also stops anything it forked.
        return subprocess.Popen(
            list(cmd), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    finally:
        log.close()


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_ready(target: Target, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if target.process.poll() is not None:
            break
        try:
            if httpx.get(f"{target.base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    tail = target.log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"{target.name} did not become ready; its log ends with:\n{tail}")


def setup_vigil(
    client: httpx.Client, students: int, risk_policy: Path | None = None
) -> list[tuple[str, dict[str, str]]]:
    def login(email: str) -> dict[str, str]:
        response = client.post("/auth/login", data={"username": email, "password": PASSWORD})
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    admin = login(ADMIN)
    exam = client.post("/exams/", params={"title": "Bench"}, headers=admin)
    exam.raise_for_status()
    exam_id = exam.json()["id"]
    if risk_policy is not None:  # the exam's own policy (docs/risk.md) instead of the default
        client.put(
            f"/exams/{exam_id}/risk-policy",
            content=risk_policy.read_bytes(),
            headers={**admin, "Content-Type": "application/json"},
        ).raise_for_status()
    jobs = []
    for i in range(students):
        email = f"student{i}@b.org"
        client.post(
            "/auth/register", json={"email": email, "password": PASSWORD, "role": "student"}
        ).raise_for_status()
        headers = login(email)
        started = client.post("/sessions/start", params={"exam_id": exam_id}, headers=headers)
        started.raise_for_status()
        jobs.append((f"/events/?session_id={started.json()['session_id']}&{EVENT_QUERY}", headers))
    return jobs


def setup_raw(db_path: Path, secret: str, students: int) -> list[tuple[str, dict[str, str]]]:
    """Rows a raw server can insert events for: users, an exam, one active session each."""
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
    db = sqlite3.connect(db_path)
    jobs = []
    try:
        with db:
            exam_id = db.execute(
                "INSERT INTO exams (uuid, title, created_at) VALUES (?, 'Bench', ?)",
                (uuid.uuid4().hex, stamp),
            ).lastrowid
            for i in range(students):
                user_id = db.execute(
                    "INSERT INTO users (uuid, login, email, role, disabled, created_at)"
                    " VALUES (?, ?, ?, 'student', 0, ?)",
                    (uuid.uuid4().hex, f"student{i}@b.org", f"student{i}@b.org", stamp),
                ).lastrowid
                session_id = db.execute(
                    "INSERT INTO proctoring_sessions (uuid, session_key, candidate_id, exam_id,"
                    " created_by_id, title, source, status, created_at, started_at, risk_score,"
                    " risk_level) VALUES (?, ?, ?, ?, ?, 'Bench', 'proctorbe', 'active', ?, ?,"
                    " 0, 'Low')",
                    (
                        uuid.uuid4().hex,
                        secrets.token_urlsafe(24),
                        user_id,
                        exam_id,
                        user_id,
                        stamp,
                        stamp,
                    ),
                ).lastrowid
                # The claims Vigil's issue_user_token puts in its tokens.
                token = jwt.encode(
                    {
                        "sub": str(user_id),
                        "typ": "user",
                        "iat": now,
                        "exp": now + timedelta(hours=8),
                        "role": "student",
                    },
                    secret,
                    algorithm="HS256",
                )
                headers = {"Authorization": f"Bearer {token}"}
                jobs.append((f"/events/?session_id={session_id}&{EVENT_QUERY}", headers))
    finally:
        db.close()
    return jobs


def count_events(db_path: Path) -> int:
    db = sqlite3.connect(db_path, timeout=30)
    try:
        return int(db.execute("SELECT count(*) FROM proctoring_events").fetchone()[0])
    finally:
        db.close()


# --- measurement ------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies over all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return float(total - idle), float(total)


def wait_quiet(limit: float, threshold: float = 15.0, window: float = 3.0) -> str:
    """Wait up to `limit` seconds for `window` seconds with the machine under threshold % busy."""
    deadline = time.time() + limit
    busy = 100.0
    while True:
        before = machine_cpu()
        time.sleep(window)
        after = machine_cpu()
        busy = 100.0 * (after[0] - before[0]) / max(1.0, after[1] - before[1])
        if busy < threshold or time.time() >= deadline:
            return f"{busy:.0f}% busy over {window:g} s before the run"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Cell:
    """Every measured slice of one target at one concurrency, merged."""

    target: str
    concurrency: int
    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0
    gen_cpu: float = 0.0
    machine_busy: float = 0.0
    machine_total: float = 0.0
    samples: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def server_cpu_pct(self) -> float:
        return 100.0 * self.server_cpu / self.seconds if self.seconds else 0.0

    @property
    def gen_cpu_pct(self) -> float:
        return 100.0 * self.gen_cpu / self.seconds if self.seconds else 0.0

    @property
    def machine_pct(self) -> float:
        return 100.0 * self.machine_busy / self.machine_total if self.machine_total else 0.0

    @property
    def other_cpu_pct(self) -> float:
        """CPU the rest of the machine used meanwhile (other processes, kernel), % of a core."""
        if not self.machine_total or not self.seconds:
            return 0.0
        cores = os.cpu_count() or 1
        busy_seconds = self.machine_busy / self.machine_total * cores * self.seconds
        return max(0.0, 100.0 * (busy_seconds - self.server_cpu - self.gen_cpu) / self.seconds)

    @property
    def server_ms_per_request(self) -> float:
        return 1000.0 * self.server_cpu / self.ok if self.ok else float("nan")


def run_slice(
    target: Target,
    concurrency: int,
    generators: int,
    warmup: float,
    duration: float,
    cell: Cell | None,
    client: str,
) -> None:
    """Drive one target for warmup + duration seconds; merge the measured part into cell."""
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 1.5  # time for the generator processes to import httpx
    measure_at = start_at + warmup
    children = []
    for g in range(generators):
        jobs = [target.job(w) for w in range(g, concurrency, generators)]
        spec = {
            "base_url": target.base_url,
            "jobs": jobs,
            "start_at": start_at,
            "measure_at": measure_at,
            "duration": duration,
            "client": client,
        }
        receiver, sender = ctx.Pipe(duplex=False)
        process = ctx.Process(target=_generator_main, args=(spec, sender), daemon=True)
        process.start()
        sender.close()
        children.append((process, receiver))
    try:
        time.sleep(max(0.0, measure_at - time.time()))
        server0, machine0 = process_cpu_seconds(target.process.pid), machine_cpu()
        time.sleep(max(0.0, measure_at + duration - time.time()))
        server1, machine1 = process_cpu_seconds(target.process.pid), machine_cpu()
        results = []
        for _, receiver in children:
            if not receiver.poll(REQUEST_TIMEOUT + 10):
                raise RuntimeError("a load generator did not report back")
            results.append(receiver.recv())
    finally:
        for process, _ in children:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
    for result in results:
        if "fatal" in result:
            raise RuntimeError(f"load generator failed: {result['fatal']}")
        target.setup_ok += result["warm_ok"]
    if cell is None:  # a warm-up slice: count its rows, keep nothing else
        for result in results:
            target.setup_ok += result["ok"]
        return
    cell.seconds += max(r["elapsed"] for r in results)
    cell.server_cpu += server1 - server0
    cell.machine_busy += machine1[0] - machine0[0]
    cell.machine_total += machine1[1] - machine0[1]
    for result in results:
        cell.latencies.extend(result["latencies"])
        cell.ok += result["ok"]
        cell.errors += result["errors"]
        cell.gen_cpu += result["cpu"]
        cell.samples.extend(result["samples"][: 3 - len(cell.samples)])


# --- reporting --------------------------------------------------------------------------

COLUMNS = (
    "target",
    "conc",
    "requests",
    "req/s",
    "p50 ms",
    "p99 ms",
    "errors",
    "server CPU",
    "server ms/req",
    "gen CPU",
    "machine CPU",
    "other CPU",
)


def row(cell: Cell) -> list[str]:
    return [
        cell.target,
        str(cell.concurrency),
        str(cell.ok),
        f"{cell.rps:.0f}",
        f"{cell.percentile(0.50):.1f}",
        f"{cell.percentile(0.99):.1f}",
        str(cell.errors),
        f"{cell.server_cpu_pct:.0f}%",
        f"{cell.server_ms_per_request:.2f}",
        f"{cell.gen_cpu_pct:.0f}%",
        f"{cell.machine_pct:.0f}%",
        f"{cell.other_cpu_pct:.0f}%",
    ]


def ratio_lines(cells: dict[tuple[str, int], Cell], targets: Sequence[str]) -> list[str]:
    lines = []
    concurrencies = sorted({c for _, c in cells})
    for base in (t for t in targets if t != "vigil"):
        for conc in concurrencies:
            vigil, raw = cells[("vigil", conc)], cells[(base, conc)]
            if raw.rps:
                lines.append(
                    f"vigil / {base} at concurrency {conc}: {vigil.rps / raw.rps:.2f} "
                    f"({vigil.rps:.0f} / {raw.rps:.0f} req/s); "
                    f"p50 {vigil.percentile(0.5):.1f} vs {raw.percentile(0.5):.1f} ms"
                )
    return lines


def text_table(cells: list[Cell]) -> str:
    rows = [list(COLUMNS)] + [row(c) for c in cells]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    out = []
    for n, r in enumerate(rows):
        out.append(
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w)
                for i, (v, w) in enumerate(zip(r, widths, strict=True))
            )
        )
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def markdown_block(cells: list[Cell], ratios: list[str], args: argparse.Namespace) -> str:
    command = " ".join(["python", "bench/bench_events.py", *sys.argv[1:]])
    lines = [
        f"### POST /events/ — {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        f"`{command}` — {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{args.duration:g} s measured per target and concurrency in {args.rounds} alternating "
        f"slices, {args.generators} generator process(es), {args.students} students. "
        f"Vigil: {args.vigil_label}. "
        f"Machine {args.quiet}; load average before / after: "
        f"{args.load_before} / {args.load_after}.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(COLUMNS))) + "|",
    ]
    lines += ["| " + " | ".join(row(c)) + " |" for c in cells]
    lines += [""] + [f"- {line}" for line in ratios]
    return "\n".join(lines) + "\n"


# --- main -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, default=15.0, help="measured seconds per target and concurrency"
    )
    parser.add_argument(
        "--concurrency",
        type=lambda s: [int(v) for v in s.split(",") if v],
        default=[16, 32],
        help="comma-separated in-flight request counts (default 16,32)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating slices per cell")
    parser.add_argument("--warmup", type=float, default=3.0, help="first warm-up per target, s")
    parser.add_argument("--slice-warmup", type=float, default=1.0, help="warm-up per slice, s")
    parser.add_argument(
        "--client",
        choices=("sockets", "httpx"),
        default="sockets",
        help="load generator's HTTP client: bare asyncio streams (default) or httpx.AsyncClient",
    )
    parser.add_argument("--generators", type=int, default=1, help="load generator processes")
    parser.add_argument("--students", type=int, default=8, help="students (and sessions)")
    parser.add_argument(
        "--targets",
        default="vigil,raw,raw-pool",
        help="comma-separated subset of vigil,raw,raw-pool (vigil is always run)",
    )
    parser.add_argument(
        "--vigil-ref",
        help="benchmark src/ of this git ref (e.g. HEAD) instead of the working tree",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="wait up to this many seconds for the machine to be under 15%% busy first",
    )
    parser.add_argument(
        "--risk-policy",
        type=Path,
        help="a JSON risk policy to set on the bench exam first (needs a Vigil that has "
        "PUT /exams/{id}/risk-policy)",
    )
    parser.add_argument("--markdown", type=Path, help="append the Markdown block to this file")
    parser.add_argument("--keep-data", action="store_true", help="keep the temporary data dirs")
    args = parser.parse_args(argv)
    targets = ["vigil"] + [t for t in args.targets.split(",") if t in ("raw", "raw-pool")]
    args.target_names = list(dict.fromkeys(targets))
    if not args.concurrency or min(args.concurrency) < 1 or max(args.concurrency) > 256:
        parser.error("--concurrency must be between 1 and 256")
    if not 0 < args.duration <= 120 or not 1 <= args.rounds <= 10:
        parser.error("--duration must be in (0, 120] and --rounds in [1, 10]")
    if not 0 <= args.wait_quiet <= 1800:
        parser.error("--wait-quiet must be in [0, 1800]")
    if not 1 <= args.generators <= 8 or not 1 <= args.students <= 64:
        parser.error("--generators must be in [1, 8] and --students in [1, 64]")
    return args


def start_targets(work: Path, args: argparse.Namespace, targets: list[Target]) -> None:
    """Start every server, appending each to targets at once so main() can stop it."""
    # Vigil, set up the way an operator would.
    vigil_dir = work / "vigil"
    run_vigil(vigil_dir, args.vigil_src, "migrate")
    run_vigil(
        vigil_dir, args.vigil_src, "users", "create", "--login", ADMIN, "--email", ADMIN,
        "--password", PASSWORD, "--role", "admin",
    )  # fmt: skip
    port = free_port()
    vigil = Target(
        "vigil",
        f"http://{HOST}:{port}",
        start_server(
            [str(VIGIL), "serve", "--host", HOST, "--port", str(port)],
            vigil_env(vigil_dir, args.vigil_src),
            work / "vigil.log",
        ),
        vigil_dir / "vigil.db",
        work / "vigil.log",
    )
    targets.append(vigil)
    # The raw baselines, each on its own migrated copy of the schema.
    for name in args.target_names[1:]:
        data_dir = work / name
        run_vigil(data_dir, args.vigil_src, "migrate")
        secret = secrets.token_urlsafe(48)
        jobs = setup_raw(data_dir / "vigil.db", secret, args.students)
        port = free_port()
        env = dict(os.environ)
        env.update(
            RAW_DB_PATH=str(data_dir / "vigil.db"),
            RAW_SECRET=secret,
            RAW_MODE="pool" if name == "raw-pool" else "lock",
        )
        cmd = [
            sys.executable, "-m", "uvicorn", "raw_events_app:app", "--app-dir", str(BENCH_DIR),
            "--host", HOST, "--port", str(port), "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        log_path = work / f"{name}.log"
        target = Target(
            name, f"http://{HOST}:{port}", start_server(cmd, env, log_path),
            data_dir / "vigil.db", log_path, jobs,
        )  # fmt: skip
        targets.append(target)
    for target in targets:
        wait_ready(target)
    with httpx.Client(base_url=vigil.base_url, timeout=60) as client:
        vigil.jobs = setup_vigil(client, args.students, args.risk_policy)


def benchmark(targets: list[Target], args: argparse.Namespace) -> list[Cell]:
    cells = {(t.name, c): Cell(t.name, c) for c in args.concurrency for t in targets}
    per_slice = args.duration / args.rounds
    top = max(args.concurrency)
    for target in targets:
        print(f"warm-up: {target.name}, {args.warmup:g} s at concurrency {top}", flush=True)
        run_slice(target, top, args.generators, 0.0, args.warmup, None, args.client)
    for conc in args.concurrency:
        for r in range(args.rounds):
            order = targets if r % 2 == 0 else targets[::-1]
            for target in order:
                cell = cells[(target.name, conc)]
                ok, errors, seconds = cell.ok, cell.errors, cell.seconds
                run_slice(
                    target, conc, args.generators, args.slice_warmup, per_slice, cell, args.client
                )
                rate = (cell.ok - ok) / max(1e-9, cell.seconds - seconds)
                print(
                    f"  concurrency {conc}, round {r + 1}/{args.rounds}, {target.name:8s}: "
                    f"{rate:6.0f} req/s, {cell.errors - errors} errors in this slice",
                    flush=True,
                )
    return [cells[(t.name, c)] for c in args.concurrency for t in targets]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the finally below stops the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    targets: list[Target] = []
    started = time.time()
    try:
        print(f"data and server logs in {work}", flush=True)
        args.vigil_src, args.vigil_label = vigil_source(work, args.vigil_ref)
        print(f"Vigil: {args.vigil_label}", flush=True)
        start_targets(work, args, targets)
        if args.wait_quiet:
            print(f"waiting up to {args.wait_quiet:g} s for a quiet machine", flush=True)
        args.quiet = wait_quiet(args.wait_quiet)
        print(args.quiet, flush=True)
        args.load_before = loadavg()
        cells = benchmark(targets, args)
        args.load_after = loadavg()
        ratios = ratio_lines({(c.target, c.concurrency): c for c in cells}, args.target_names)
        print()
        print(text_table(cells))
        print()
        for line in ratios:
            print(line)
        for cell in cells:
            for sample in cell.samples:
                print(f"error sample ({cell.target}, {cell.concurrency}): {sample}")
        checks = []
        for target in targets:
            rows = count_events(target.db_path)
            counted = target.setup_ok + sum(c.ok for c in cells if c.target == target.name)
            checks.append(f"{target.name}: {rows} event rows for {counted} HTTP 200s")
        print("row check: " + "; ".join(checks))
        block = markdown_block(cells, ratios, args)
        print()
        print(block)
        if args.markdown:
            with args.markdown.open("a") as out:
                out.write("\n" + block)
        print(f"total time {time.time() - started:.0f} s")
        return 0
    finally:
        for target in targets:
            stop_server(target.process)
        if args.keep_data:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
