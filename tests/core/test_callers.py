"""A bearer token's user is reused for a moment: a change made in this process counts at
once, one made by another process within VIGIL_AUTH_CACHE_SECONDS."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.support.api import create_user, login, run_async
from vigil.core.identity.callers import CallerCache
from vigil.core.identity.models import Role, User
from vigil.runtime import Runtime
from vigil.storage.db import create_engine

# A student is known (403) until disabled (401).
ADMIN_ONLY = "/admin/sessions"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def runtime_of(client: TestClient) -> Runtime:
    return client.app.state.runtime  # type: ignore[attr-defined, no-any-return]


def set_disabled_elsewhere(url: str, user_id: int) -> None:
    """Disable the user the way another process would: not through this process's ORM."""

    async def run() -> None:
        engine = create_engine(url)
        async with engine.begin() as connection:
            await connection.execute(update(User).where(User.id == user_id).values(disabled=True))
        await engine.dispose()

    asyncio.run(run())


def test_a_user_disabled_in_this_process_is_refused_at_once(client: TestClient) -> None:
    user_id = create_user(client, "ana@uni.edu", Role.STUDENT)
    headers = login(client, "ana@uni.edu")
    assert client.get(ADMIN_ONLY, headers=headers).status_code == 403

    async def disable() -> None:
        async with runtime_of(client).sessionmaker.begin() as db:
            user = await db.get(User, user_id)
            assert user is not None
            user.disabled = True

    run_async(client, disable)
    assert client.get(ADMIN_ONLY, headers=headers).status_code == 401


def test_a_user_disabled_by_another_process_is_refused_once_the_moment_passes(
    client: TestClient, database_url: str
) -> None:
    clock = Clock()
    runtime_of(client).callers = CallerCache(2.0, timer=clock)
    user_id = create_user(client, "ana@uni.edu", Role.STUDENT)
    headers = login(client, "ana@uni.edu")
    assert client.get(ADMIN_ONLY, headers=headers).status_code == 403

    set_disabled_elsewhere(database_url, user_id)
    clock.now += 1.0
    assert client.get(ADMIN_ONLY, headers=headers).status_code == 403  # within the moment
    clock.now += 1.5
    assert client.get(ADMIN_ONLY, headers=headers).status_code == 401


def test_with_the_cache_off_every_request_reads_the_user(
    client: TestClient, database_url: str
) -> None:
    runtime_of(client).callers = CallerCache(0)
    user_id = create_user(client, "ana@uni.edu", Role.STUDENT)
    headers = login(client, "ana@uni.edu")
    assert client.get(ADMIN_ONLY, headers=headers).status_code == 403
    set_disabled_elsewhere(database_url, user_id)
    assert client.get(ADMIN_ONLY, headers=headers).status_code == 401


def test_a_request_changing_its_copy_of_the_caller_changes_no_other(client: TestClient) -> None:
    create_user(client, "ana@uni.edu", Role.STUDENT)
    headers = login(client, "ana@uni.edu")
    callers, runtime = runtime_of(client).callers, runtime_of(client)
    token = headers["Authorization"].removeprefix("Bearer ")
    key = runtime.settings.signing_key

    async def twice() -> tuple[User, User]:
        first = await callers.user_from_token(runtime.reader, key, token)
        first.role = Role.ADMIN
        return first, await callers.user_from_token(runtime.reader, key, token)

    first, second = run_async(client, twice)
    assert first is not second
    assert second.role == Role.STUDENT
    assert client.get(ADMIN_ONLY, headers=headers).status_code == 403
