"""Shared fixtures: a real database (SQLite always, PostgreSQL when configured), a real
S3 peer (moto_server), and the app under a TestClient.

`VIGIL_TEST_DATABASE_URL` (a PostgreSQL server URL) turns on the PostgreSQL half of
every database test. `VIGIL_TEST_REQUIRE_ALL=1` (set by .ci/run) turns a skipped
PostgreSQL or S3 test into a failure, so CI cannot pass by skipping them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.support.required import skip_or_fail
from tests.support.s3 import MotoServer, start_moto_server
from vigil.app import create_app
from vigil.core.identity import passwords
from vigil.settings import Settings, async_database_url
from vigil.storage import migrate
from vigil.storage.all_models import Base
from vigil.storage.db import create_engine

PG_SERVER_URL = os.environ.get("VIGIL_TEST_DATABASE_URL")


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """argon2's cheapest profile: same code path, a fraction of the CPU, for fast tests."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))
        passwords._dummy_hash.cache_clear()
        yield
    passwords._dummy_hash.cache_clear()


# --- databases ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "vigil.db"
    migrate.upgrade(async_database_url(f"sqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    if not PG_SERVER_URL:
        skip_or_fail("VIGIL_TEST_DATABASE_URL is not set")
        return
    server = async_database_url(PG_SERVER_URL)
    name = f"vigil_test_{uuid.uuid4().hex[:10]}"
    _run_sql(server, f'CREATE DATABASE "{name}"')
    url = server.rsplit("/", 1)[0] + f"/{name}"
    migrate.upgrade(url)
    yield url
    _run_sql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run_sql(url: str, *statements: str) -> None:
    async def run() -> None:
        engine = create_engine(url)
        async with engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            for statement in statements:
                await connection.execute(text(statement))
        await engine.dispose()

    asyncio.run(run())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty database for one test."""
    if request.param == "sqlite":
        path = tmp_path / "vigil.db"
        shutil.copy(sqlite_template, path)
        return async_database_url(f"sqlite:///{path}")
    url: str = request.getfixturevalue("postgres_database")
    # Every table but the users' change counter, whose one row the migration made.
    tables = ", ".join(
        f'"{t.name}"' for t in Base.metadata.sorted_tables if t.name != "user_changes"
    )
    _run_sql(url, f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    return url


# --- S3 ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    try:
        server = start_moto_server(tmp_path_factory.mktemp("moto"))
    except RuntimeError as exc:
        skip_or_fail(f"moto_server could not start: {exc}")
        return
    yield server
    server.stop()


# --- the app ----------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret-key-0123456789abcdef",
        trusted_proxies=["10.9.8.0/24"],
        cors_origins=["http://localhost:3000"],
        # Analysis runs only in the tests that ask for it (tests/analysis, tests/jobs):
        # elsewhere, events appearing in the background would race the assertions.
        analysis_workers=0,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client
