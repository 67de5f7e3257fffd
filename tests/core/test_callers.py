"""A bearer token's user is reused for a moment: a change made in this process counts at
once, one made by another process within VIGIL_AUTH_CACHE_SECONDS; callers seen again and
again are renewed together, by one read of the users' change counter, and their rows are
read again (in one query) only after a user changed; a token is checked once, its expiry
always."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncEngine

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


class UserReads:
    """Counts the statements that read rows of `users` through an engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.count = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _connection: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        self.count += "FROM users" in statement


def test_callers_seen_again_and_again_are_renewed_together_and_reread_only_after_a_change(
    client: TestClient, database_url: str
) -> None:
    clock = Clock()
    runtime = runtime_of(client)
    callers = runtime.callers = CallerCache(2.0, timer=clock)
    tokens, ids = [], []
    for n in range(12):
        ids.append(create_user(client, f"student{n}@uni.edu", Role.STUDENT))
        tokens.append(login(client, f"student{n}@uni.edu")["Authorization"][7:])
    reader, user_reads = CountingReader(runtime), UserReads(runtime.read_engine)
    key = runtime.settings.signing_key

    async def everyone() -> list[int]:
        return [(await callers.user_from_token(reader, key, t)).id for t in tokens]  # type: ignore[arg-type]

    def an_exam_hall_moment() -> list[int]:
        clock.now += 1.2  # past half the 2 s moment: one background read is due
        answered = run_async(client, everyone)
        run_async(client, callers.close)
        return answered

    assert run_async(client, everyone) == ids
    assert (reader.opened, user_reads.count) == (12, 12)  # each caller's row read once
    for _ in range(4):  # everyone again and again, well past the 2 s moment
        assert an_exam_hall_moment() == ids
    assert reader.opened == 12 + 4  # one background read each time the rows got half old
    # The first of them read the rows again in one query, with the counter; after that no
    # user changed, and no row was read again.
    assert user_reads.count == 12 + 1

    set_disabled_elsewhere(database_url, ids[0])
    assert an_exam_hall_moment() == ids  # within the moment; its read sees the change
    assert user_reads.count == 12 + 1 + 1  # every row again, in one query
    clock.now += 0.1
    first = {"Authorization": f"Bearer {tokens.pop(0)}"}
    assert client.get(ADMIN_ONLY, headers=first).status_code == 401  # read for itself
    assert an_exam_hall_moment() == ids[1:]
    assert user_reads.count == 12 + 1 + 1 + 1


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
