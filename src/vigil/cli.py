"""`vigil serve | migrate | users ...` — the operator's commands."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from vigil.core.errors import VigilError
from vigil.core.identity import service as identity
from vigil.core.identity.models import Role
from vigil.runtime import Runtime
from vigil.settings import Settings
from vigil.storage import migrate as migrations

app = typer.Typer(no_args_is_help=True, help="Vigil, the self-hosted proctoring backend.")
users = typer.Typer(no_args_is_help=True, help="Manage user accounts.")
app.add_typer(users, name="users")
exams = typer.Typer(no_args_is_help=True, help="Manage exam content.")
app.add_typer(exams, name="exams")
jobs = typer.Typer(no_args_is_help=True, help="Analysis jobs (scaled mode: RabbitMQ).")
app.add_typer(jobs, name="jobs")
console = Console()
T = TypeVar("T")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """Serve every contract over HTTP."""
    import uvicorn

    _rebuild_attempt_files()
    uvicorn.run(
        "vigil.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        proxy_headers=False,
    )


def _rebuild_attempt_files() -> None:
    """Once, before any worker: the attempt files catch up with the database after a crash
    (their directories are not fsynced, storage/views.py)."""
    from sqlalchemy.exc import DBAPIError

    from vigil.core.attempts.jobs import rebuild_views

    try:
        _run_with_runtime(
            lambda runtime: rebuild_views(runtime.sessionmaker, runtime.settings.data_dir)
        )
    except DBAPIError:
        console.print("[yellow]the database is not migrated yet: run `vigil migrate`[/yellow]")


@app.command()
def worker(
    threads: Annotated[
        int | None, typer.Option(min=1, help="job threads (default VIGIL_ANALYSIS_WORKERS)")
    ] = None,
    requeue: Annotated[
        bool, typer.Option(help="on start, send a job for every pending evidence row")
    ] = True,
) -> None:
    """Run analysis jobs from RabbitMQ (scaled mode) until SIGTERM or Ctrl-C."""
    settings = Settings()
    if not settings.queue_url:
        console.print(
            "[red]error:[/red] vigil worker needs VIGIL_QUEUE_URL (RabbitMQ); without it, "
            "`vigil serve` runs analysis on its own threads"
        )
        raise typer.Exit(code=2)
    from vigil.analysis.worker import run_worker

    run_worker(settings, threads or settings.analysis_workers or 1, requeue=requeue)


@jobs.command("requeue")
def requeue_jobs() -> None:
    """Send a job for every pending evidence row to RabbitMQ (after an outage)."""
    if not Settings().queue_url:
        console.print(
            "[red]error:[/red] without VIGIL_QUEUE_URL the queue lives inside the server: "
            "restarting it sends every pending job again"
        )
        raise typer.Exit(code=2)
    from vigil.analysis.actors import requeue_pending

    async def run(runtime: Runtime) -> int:
        return await requeue_pending(runtime.sessionmaker, runtime.jobs)

    console.print(f"sent {_run_with_runtime(run)} pending jobs")


@jobs.command("status")
def jobs_status() -> None:
    """How many evidence rows are pending, done and failed."""
    from vigil.analysis.actors import analysis_counts

    async def run(runtime: Runtime) -> dict[str, int]:
        async with runtime.reader() as db:
            return await analysis_counts(db)

    for state, count in _run_with_runtime(run).items():
        console.print(f"{state}: {count}")


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.resolved_database_url)
    console.print("database schema is up to date")


@app.command()
def simulate(
    url: Annotated[str, typer.Option(help="Vigil's base URL")] = "http://127.0.0.1:8000",
    students: Annotated[
        int, typer.Option(min=1, help="virtual students, half SUSIE, half Spark")
    ] = 10,
    duration: Annotated[float, typer.Option(min=1, help="seconds of exam")] = 60,
    admin_login: Annotated[
        str, typer.Option(help="an admin login (it reads every chunk back)")
    ] = "admin",
    admin_password: Annotated[
        str, typer.Option(envvar="VIGIL_SIM_ADMIN_PASSWORD", help="its password")
    ] = "",
    accounts: Annotated[
        int, typer.Option(min=0, help="student accounts to share (0: one per student)")
    ] = 20,
    ramp: Annotated[
        float, typer.Option(min=0, help="seconds over which students join (0: all at once)")
    ] = 0,
) -> None:
    """Drive an exam day of virtual students through the real contracts, then verify."""
    from vigil.simulate.runner import report
    from vigil.simulate.runner import simulate as run_simulation

    result = asyncio.run(
        run_simulation(
            url,
            students=students,
            duration=duration,
            admin_login=admin_login,
            admin_password=admin_password,
            accounts=accounts,
            ramp=ramp,
            console=console,
        )
    )
    report(result, console)
    if result.verification.lost or sum(result.traffic.failed.values()):
        raise typer.Exit(code=1)


@users.command("create")
def create_user(
    login: Annotated[str, typer.Option(help="sign-in name")],
    password: Annotated[str, typer.Option(help="at least 8 characters")],
    role: Annotated[Role, typer.Option(help="admin, teacher or student")],
    email: Annotated[str | None, typer.Option()] = None,
    first_name: Annotated[str | None, typer.Option()] = None,
    last_name: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create one user."""
    new = identity.NewUser(
        login=login,
        password=password,
        role=role,
        email=email,
        first_name=first_name,
        last_name=last_name,
    )

    async def run(runtime: Runtime) -> int:
        async with runtime.sessionmaker.begin() as db:
            return (await identity.create_user(db, new)).id

    user_id = _run_with_runtime(run)
    console.print(f"created {role.value} {login!r} (id {user_id})")


@users.command("ensure-admin")
def ensure_admin() -> None:
    """Create an admin with a random password if the database has none, and print it once."""

    async def run(runtime: Runtime) -> tuple[str, str] | None:
        async with runtime.sessionmaker.begin() as db:
            created = await identity.create_first_admin(db)
            return (created[0].login, created[1]) if created else None

    created = _run_with_runtime(run)
    if created is None:
        console.print("an admin account exists; sign in with it (or `vigil users create`)")
        return
    login, password = created
    console.print(
        f"[bold]created the first admin[/bold] — login: {login}  password: {password}\n"
        "this password is shown only once: keep it somewhere safe"
    )


@users.command("import")
def import_users(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help=".csv or .xlsx, one user a row"),
    ],
    credentials: Annotated[
        Path | None,
        typer.Option(
            help="write generated passwords here (a new file, mode 0600) instead of stdout"
        ),
    ] = None,
) -> None:
    """Enrol a cohort from a CSV or XLSX file: every row valid, or nothing imported.

    Columns: login, password (empty: generated), first_name, last_name, email, role
    (admin, teacher, student, 0 or 1; empty: student), group (created if missing).
    """
    from vigil.core.identity.importer import ImportRejected, ImportReport
    from vigil.core.identity.importer import import_users as run_import
    from vigil.storage import views

    if credentials is not None and credentials.exists():
        console.print(f"[red]error:[/red] {credentials} exists: name a new file")
        raise typer.Exit(code=1)

    written: list[Path] = []

    async def run(runtime: Runtime) -> ImportReport:
        async with views.unit_of_work(runtime.sessionmaker) as db:
            report = await run_import(db, file)
            if credentials is not None and report.generated:
                # before the commit: if it cannot be written, no account is left unreachable
                _write_credentials(credentials, report.generated)
                written.append(credentials)
        return report

    try:
        report = _run_with_runtime(run)
    except BaseException as error:
        for path in written:
            path.unlink(missing_ok=True)  # the commit failed: those accounts do not exist
        if isinstance(error, typer.Exit) and isinstance(error.__cause__, ImportRejected):
            for problem in error.__cause__.problems:
                console.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
        raise
    console.print(f"imported {report.created} user{'s' if report.created != 1 else ''}")
    if report.groups_created:
        console.print(f"new groups: {', '.join(report.groups_created)}", markup=False)
    if not report.generated:
        return
    if credentials is not None:
        console.print(f"generated passwords for {len(report.generated)} users: in {credentials}")
        return
    console.print("generated passwords (shown only once, keep them safe):")
    typer.echo("login,password")
    for login, password in report.generated:
        typer.echo(f"{login},{password}")


def _write_credentials(path: Path, generated: list[tuple[str, str]]) -> None:
    import csv
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["login", "password"])
        writer.writerows(generated)
        out.flush()
        os.fsync(out.fileno())


@exams.command("import")
def import_exams(
    directory: Annotated[Path, typer.Argument(help="holds manifest.json and input/{examId}.json")],
) -> None:
    """Import exam files: unchanged files change nothing, a changed file is a new version."""
    from vigil.core.attempts import service as attempts
    from vigil.core.exams.importer import ImportReport
    from vigil.core.exams.importer import import_exams as run_import
    from vigil.storage import views

    async def run(runtime: Runtime) -> ImportReport:
        async with views.unit_of_work(runtime.sessionmaker) as db:
            report = await run_import(db, directory)
            await attempts.queue_manifest(db, runtime.settings.data_dir)
        return report

    report = _run_with_runtime(run)
    for label, refs in [
        ("created", report.created),
        ("new version", report.updated),
        ("published flag changed", report.republished),
        ("risk policy changed (sessions rescored)", report.risk_policy_changed),
        ("unchanged", report.unchanged),
    ]:
        if refs:
            console.print(f"{label}: {', '.join(refs)}")
    if report.missing:
        console.print(f"[yellow]in manifest.json but no input file:[/yellow] {report.missing}")


def _run_with_runtime(action: Callable[[Runtime], Awaitable[T]]) -> T:
    async def main() -> T:
        runtime = await Runtime.open(Settings())
        try:
            return await action(runtime)
        finally:
            await runtime.close()

    try:
        return asyncio.run(main())
    except VigilError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(code=1) from exc
