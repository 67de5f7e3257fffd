"""Student accounts for a benchmark run, written straight into a migrated Vigil database
before `vigil serve` starts, with a bearer token each, minted as `/auth/login` mints them
(same key, claims and lifetime). Prints one JSON list of [login, token] pairs.

Signing up over HTTP costs the server two argon2 hashes per student: at 2,000 students
on this box that was 7 to 14 minutes before the exam could begin. Sign-in is not what the
intake benchmarks measure; the tokens they use are the same as sign-in's, one per student.
All accounts share one password hash. It runs with the server's environment (and, for
`--compare`, the other commit's `src/`), so it imports nothing newer than the users table.

    VIGIL_DATA_DIR=... .venv/bin/python bench/seed_students.py COUNT RUN_ID
"""

from __future__ import annotations

import asyncio
import json
import sys

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from vigil.core.identity.models import Role, User
from vigil.core.identity.passwords import hash_password
from vigil.core.identity.service import issue_user_token
from vigil.settings import Settings

PASSWORD = "seeded-student-password"


def student_email(run_id: str, k: int) -> str:
    return f"seeded-{run_id}-{k}@simulated.vigil.dev"


async def seed(count: int, run_id: str) -> list[tuple[str, str]]:
    settings = Settings()
    engine = create_async_engine(settings.resolved_database_url)
    password_hash = hash_password(PASSWORD)
    users = [
        User(login=email, email=email, password_hash=password_hash, role=Role.STUDENT)
        for email in (student_email(run_id, k) for k in range(count))
    ]
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as db:
            db.add_all(users)
            await db.commit()
    finally:
        await engine.dispose()
    key, ttl = settings.signing_key, settings.token_ttl_seconds
    return [(user.login, issue_user_token(key, user, ttl).token) for user in users]


def main() -> None:
    count, run_id = int(sys.argv[1]), sys.argv[2]
    print(json.dumps(asyncio.run(seed(count, run_id))))


if __name__ == "__main__":
    main()
