"""A bearer token's user is reused for a moment: a change made in this process counts at
once, one made by another process within VIGIL_AUTH_CACHE_SECONDS; callers seen again and
again are read again together, in one query; a token is checked once, its expiry always."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.support.api import create_user, login, run_async
from vigil.core.identity.callers import CallerCache
from vigil.core.identity.models import Role, User
from vigil.core.identity.tokens import USER_TOKEN, issue_token
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


def test_a_user_disabled_elsewhere_is_refused_as_soon_as_the_background_read_sees_it(
    client: TestClient, database_url: str
) -> None:
    clock = Clock()
    runtime = runtime_of(client)
    runtime.callers = CallerCache(2.0, timer=clock)
    user_id = create_user(client, "ana@uni.edu", Role.STUDENT)
    headers = login(client, "ana@uni.edu")
    assert client.get(ADMIN_ONLY, headers=headers).status_code == 403

    set_disabled_elsewhere(database_url, user_id)
    clock.now += 1.0  # half the moment: this request starts a read of every caller's row
    assert client.get(ADMIN_ONLY, headers=headers).status_code == 403
    run_async(client, runtime.callers.close)
    clock.now += 0.1  # well within the moment of the first read
    assert client.get(ADMIN_ONLY, headers=headers).status_code == 401


class CountingReader:
    """A reader session factory that counts the sessions opened through it."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.opened = 0

    def __call__(self) -> Any:
        self.opened += 1
        return self.runtime.reader()


def test_callers_seen_again_and_again_are_read_in_one_query_not_one_each(
    client: TestClient,
) -> None:
    clock = Clock()
    runtime = runtime_of(client)
    callers = runtime.callers = CallerCache(2.0, timer=clock)
    tokens = []
    for n in range(12):
        create_user(client, f"student{n}@uni.edu", Role.STUDENT)
        tokens.append(login(client, f"student{n}@uni.edu")["Authorization"][7:])
    reader = CountingReader(runtime)
    key = runtime.settings.signing_key

    async def everyone() -> list[int]:
        return [(await callers.user_from_token(reader, key, t)).id for t in tokens]  # type: ignore[arg-type]

    first = run_async(client, everyone)
    assert reader.opened == 12  # each caller's row is read once
    for _ in range(4):  # an exam hall: everyone again and again, past the 2 s moment
        clock.now += 1.2
        assert run_async(client, everyone) == first
        run_async(client, callers.close)
    assert reader.opened == 12 + 4  # one read of every row each time they got half old


def test_a_tampered_token_of_a_remembered_caller_is_refused(client: TestClient) -> None:
    create_user(client, "ana@uni.edu", Role.STUDENT)
    headers = login(client, "ana@uni.edu")
    assert client.get(ADMIN_ONLY, headers=headers).status_code == 403
    token = headers["Authorization"]
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    answer = client.get(ADMIN_ONLY, headers={"Authorization": tampered})
    assert answer.status_code == 401
    assert client.get(ADMIN_ONLY, headers=headers).status_code == 403


def test_a_remembered_token_is_refused_once_it_expires(client: TestClient) -> None:
    user_id = create_user(client, "ana@uni.edu", Role.STUDENT)
    runtime = runtime_of(client)
    issued = issue_token(
        runtime.settings.signing_key,
        subject=str(user_id),
        token_type=USER_TOKEN,
        ttl_seconds=3,  # the token's exp is whole seconds, so it may end up to 1 s sooner
        role=Role.STUDENT.value,
    )
    headers = {"Authorization": f"Bearer {issued.token}"}
    assert client.get(ADMIN_ONLY, headers=headers).status_code == 403
    expires = int(issued.expires_at.timestamp())
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    answer = client.get(ADMIN_ONLY, headers=headers)
    assert answer.status_code == 401
    assert "expired" in answer.text
