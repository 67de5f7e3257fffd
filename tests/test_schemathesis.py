"""Property-based: Vigil's own OpenAPI, fuzzed against a live server, yields no 500 and
no status, content type or body the schema does not document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.server import live_server, seed_users
from vigil.core.identity.models import Role
from vigil.settings import Settings
from vigil.storage import migrate

PASSWORD = "fuzz-pass-1"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz")
    conf = Settings(data_dir=data_dir, secret_key="fuzz-secret-0123456789abcdef0123")
    migrate.upgrade(conf.resolved_database_url)
    seed_users(conf, [("admin@uni.edu", Role.ADMIN), ("ana@uni.edu", Role.STUDENT)], PASSWORD)
    with live_server(conf) as url:
        yield url


@pytest.fixture(scope="module")
def api_schema(server: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{server}/openapi.json")


@pytest.fixture(scope="module")
def callers(server: str) -> list[dict[str, str]]:
    """An admin and a student, so fuzzing reaches past the authorization checks."""
    headers = []
    for login in ("admin@uni.edu", "ana@uni.edu"):
        answer = httpx.post(f"{server}/auth/login", data={"username": login, "password": PASSWORD})
        headers.append({"Authorization": f"Bearer {answer.json()['access_token']}"})
    return headers


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, callers: list[dict[str, str]]) -> None:
    for headers in callers:
        case.call_and_validate(headers=headers, checks=CHECKS)
