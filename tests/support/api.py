"""Small helpers that call the ProctorBE API the way its clients do."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from vigil.core.identity import service as identity
from vigil.core.identity.models import Role
from vigil.runtime import Runtime

PASSWORD = "correct-horse-battery"


def create_user(client: TestClient, login: str, role: Role, email: str | None = None) -> int:
    """Create a user straight through the core (admins cannot self-register)."""
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def run() -> int:
        async with runtime.sessionmaker.begin() as db:
            user = await identity.create_user(
                db,
                identity.NewUser(login=login, email=email or login, password=PASSWORD, role=role),
            )
            return user.id

    assert client.portal is not None
    return client.portal.call(run)


def login(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    answer = client.post("/auth/login", data={"username": email, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def user_with_token(client: TestClient, email: str, role: Role) -> dict[str, str]:
    create_user(client, email, role)
    return login(client, email)


def run_async(client: TestClient, coroutine_fn: Any) -> Any:
    assert client.portal is not None
    return client.portal.call(coroutine_fn)
