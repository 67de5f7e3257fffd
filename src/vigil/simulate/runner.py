"""`vigil simulate`: an exam day against a running Vigil, then a read-back of every chunk
the server acknowledged."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from vigil.simulate.students import Schedule, SparkAgent, SusieStudent, audio_chunk, screen_segment
from vigil.simulate.traffic import Client, SentChunk, Traffic

PASSWORD = "simulated-student-password"


@dataclass
class Verification:
    checked: int = 0
    missing: list[SentChunk] = field(default_factory=list)
    differing: list[SentChunk] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return len(self.missing) + len(self.differing)


@dataclass
class RunResult:
    traffic: Traffic
    verification: Verification
    seconds: float  # of load: from the first student's start to the last one's end
    started: float = 0.0  # time.monotonic() at the first student's start
    all_joined: float = 0.0  # time.monotonic() at the last student's start (the ramp's end)


async def _login(client: Client, username: str, password: str) -> dict[str, str]:
    answer = await client.call(
        "auth/login", "POST", "/auth/login", data={"username": username, "password": password}
    )
    if answer is None or not answer.is_success:
        raise SystemExit(f"cannot sign in as {username}: {answer.text if answer else 'no answer'}")
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def _student_accounts(
    client: Client, run_id: str, count: int
) -> list[tuple[str, dict[str, str]]]:
    # A few at a time: each costs the server two argon2 hashes, which run on its threads.
    gate = asyncio.Semaphore(4)

    async def account(k: int) -> tuple[str, dict[str, str]]:
        email = f"sim-{run_id}-{k}@simulated.vigil.dev"
        async with gate:
            await client.call(
                "auth/register", "POST", "/auth/register",
                json={"email": email, "password": PASSWORD, "role": "student"},
            )  # fmt: skip
            return email, await _login(client, email, PASSWORD)

    return list(await asyncio.gather(*(account(k) for k in range(count))))


async def simulate(
    url: str,
    *,
    students: int,
    duration: float,
    admin_login: str,
    admin_password: str,
    accounts: int = 20,
    verify: bool = True,
    spark_share: float = 0.5,
    ramp: float = 0.0,
    console: Console | None = None,
    logins: Sequence[tuple[str, str]] = (),
) -> RunResult:
    """Drive `students` through the contracts for `duration` seconds. With `ramp`, they
    join one after another over its first `ramp` seconds, as a real exam hall does, and
    each sits for `duration - ramp`; without, all start together and end together. The
    SUSIE students share `accounts` student accounts; 0 gives each one of their own.
    `logins` ((login, bearer token) pairs) are used in place of signing up new accounts."""
    console = console or Console()
    traffic = Traffic()
    client = Client(url, traffic, connections=max(10, min(students * 2, 500)))
    run_id = secrets.token_hex(3)
    try:
        audio_chunk(), [screen_segment(v) for v in range(8)]  # make the media before timing
        staff = await _login(client, admin_login, admin_password) if admin_password else {}
        susie_count = students - int(students * spark_share)
        wanted = susie_count if accounts == 0 else min(accounts, susie_count)
        accounts_used = [
            (login, {"Authorization": f"Bearer {token}"}) for login, token in logins[:wanted]
        ] or await _student_accounts(client, run_id, max(1, wanted))
        crowd: list[SusieStudent | SparkAgent] = []
        for i in range(susie_count):
            login, headers = accounts_used[i % len(accounts_used)]
            crowd.append(SusieStudent(client, i, run_id, headers, login))
        crowd += [SparkAgent(client, i, staff) for i in range(students - susie_count)]
        started = time.monotonic()
        schedule = Schedule(started, started + duration)
        ramp = min(max(ramp, 0.0), duration / 2)
        sittings = [
            _sit(member, ramp * n / len(crowd), duration - ramp) for n, member in enumerate(crowd)
        ]
        await _with_progress(console, schedule, sittings)
        seconds = time.monotonic() - started
        verification = await _verify(client, staff, traffic.chunks) if verify else Verification()
    finally:
        await client.close()
    return RunResult(traffic, verification, seconds, started, started + ramp)


async def _sit(member: SusieStudent | SparkAgent, delay: float, length: float) -> None:
    await asyncio.sleep(delay)
    joined = time.monotonic()
    await member.run(Schedule(joined, joined + length))


async def _with_progress(console: Console, schedule: Schedule, runs: list) -> None:  # type: ignore[type-arg]
    total = schedule.deadline - schedule.started
    columns = (TextColumn("[bold]exam day"), BarColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("run", total=total)
        everyone = asyncio.gather(*runs)
        while not everyone.done():
            progress.update(task, completed=min(total, time.monotonic() - schedule.started))
            await asyncio.wait([everyone], timeout=0.5)
        await everyone


async def _verify(client: Client, staff: dict[str, str], chunks: list[SentChunk]) -> Verification:
    """Read every acknowledged chunk back through the API and compare its SHA-256."""
    result = Verification()
    by_session: dict[int, list[SentChunk]] = {}
    for chunk in chunks:
        by_session.setdefault(chunk.session_id, []).append(chunk)
    for session_id, sent in by_session.items():
        listing = await client.http.get(f"/api/v1/sessions/{session_id}/evidence", headers=staff)
        items = listing.json().get("evidence", []) if listing.is_success else []
        stored = {(e["kind"], e["stream"], e["chunk_index"]): e for e in items}
        for chunk in sent:
            result.checked += 1
            item = stored.get((chunk.kind, chunk.stream, chunk.chunk_index))
            if item is None:
                result.missing.append(chunk)
                continue
            content = await client.http.get(item["content_url"], headers=staff)
            if (
                not content.is_success
                or hashlib.sha256(content.content).hexdigest() != chunk.sha256
            ):
                result.differing.append(chunk)
    return result


def report(result: RunResult, console: Console) -> None:
    traffic = result.traffic
    ramped = result.all_joined > result.started
    table = Table(title=f"vigil simulate — {result.seconds:.0f} s")
    columns = ["endpoint", "sent", "acked", "rejected", "retried", "failed", "p50 ms", "p95 ms",
               "p99 ms"] + (["p99 ms once all joined"] if ramped else [])  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "endpoint" else "right", no_wrap=True)
    for endpoint in sorted(traffic.sent):
        after_ramp = traffic.percentile(endpoint, 0.99, since=result.all_joined)
        table.add_row(
            endpoint,
            *(str(c[endpoint]) for c in (traffic.sent, traffic.acked, traffic.rejected,
                                         traffic.retried, traffic.failed)),
            *(f"{traffic.percentile(endpoint, q) * 1000:.1f}" for q in (0.5, 0.95, 0.99)),
            *([f"{after_ramp * 1000:.1f}"] if ramped else []),
        )  # fmt: skip
    console.print(table)
    megabytes = traffic.bytes_acked / 1e6
    console.print(
        f"ingested {megabytes:.1f} MB in {result.seconds:.0f} s "
        f"({megabytes / max(result.seconds, 1e-9):.2f} MB/s)"
    )
    for reason, count in traffic.rejections.most_common(5):
        console.print(f"rejected: {reason} × {count}")
    check = result.verification
    verdict = "[green]ok[/green]" if check.lost == 0 else "[red]LOST EVIDENCE[/red]"
    console.print(
        f"read-back: {check.checked} acknowledged chunks checked, {len(check.missing)} missing, "
        f"{len(check.differing)} differ — {verdict}"
    )
