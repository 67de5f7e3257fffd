"""Registering and signing in: bad input gets a clear 4xx and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from tests.support.api import PASSWORD, create_user, login
from vigil.core.identity import passwords
from vigil.core.identity.models import Role

SECRET = "test-secret-key-0123456789abcdef"


def test_register_then_login_returns_a_bearer_token(client: TestClient) -> None:
    answer = client.post(
        "/auth/register",
        json={"email": "Ana@Uni.edu", "password": "long-enough", "role": "student"},
    )
    assert answer.status_code == 200
    assert answer.json()["email"] == "ana@uni.edu"
    token = client.post("/auth/login", data={"username": "ana@uni.edu", "password": "long-enough"})
    assert token.status_code == 200
    assert token.json()["token_type"] == "bearer"
    assert token.json()["role"] == "student"
    claims = jwt.decode(token.json()["access_token"], SECRET, algorithms=["HS256"])
    assert claims["sub"] == str(answer.json()["id"])


def test_registering_an_admin_needs_an_admins_token(client: TestClient) -> None:
    body = {"email": "mallory@uni.edu", "password": "long-enough", "role": "admin"}
    refused = client.post("/auth/register", json=body)
    assert refused.status_code == 403
    assert "admin" in refused.json()["detail"]
    assert (
        client.post(
            "/auth/login", data={"username": "mallory@uni.edu", "password": "long-enough"}
        ).status_code
        == 401
    )

    create_user(client, "ana@uni.edu", Role.STUDENT)
    student = login(client, "ana@uni.edu")
    assert client.post("/auth/register", json=body, headers=student).status_code == 403

    create_user(client, "root@uni.edu", Role.ADMIN)
    admin = login(client, "root@uni.edu")
    accepted = client.post("/auth/register", json=body, headers=admin)
    assert accepted.status_code == 200
    assert accepted.json()["role"] == "admin"


def test_duplicate_email_is_a_conflict(client: TestClient) -> None:
    body = {"email": "ana@uni.edu", "password": "long-enough", "role": "student"}
    assert client.post("/auth/register", json=body).status_code == 200
    again = client.post("/auth/register", json={**body, "email": "ANA@uni.edu"})
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": "long-enough"}, "email"),
        ({"email": "ana@uni.edu", "password": "short"}, "password"),
        ({"email": "ana@uni.edu", "password": "long-enough", "role": "wizard"}, "role"),
        ({"password": "long-enough"}, "email"),
        ({"email": "ana@uni.edu", "password": "long-enough", "is_admin": True}, "is_admin"),
    ],
)
def test_bad_registration_names_the_field(client: TestClient, body: dict, field: str) -> None:
    answer = client.post("/auth/register", json=body)
    assert answer.status_code == 422
    assert any(field in error["loc"] for error in answer.json()["detail"])
    assert (
        client.post(
            "/auth/login", data={"username": "ana@uni.edu", "password": "long-enough"}
        ).status_code
        == 401
    )


def test_malformed_json_is_422_not_500(client: TestClient) -> None:
    answer = client.post(
        "/auth/register", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["type"] == "json_invalid"


def test_wrong_password_and_unknown_user_get_the_same_answer(client: TestClient) -> None:
    create_user(client, "ana@uni.edu", Role.STUDENT)
    wrong = client.post("/auth/login", data={"username": "ana@uni.edu", "password": "nope-nope"})
    unknown = client.post("/auth/login", data={"username": "bob@uni.edu", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "incorrect login or password"}
    missing = client.post("/auth/login", data={"username": "ana@uni.edu"})
    assert missing.status_code == 422


def test_unknown_user_still_costs_a_password_hash(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timing safety by construction: the unknown-user path runs argon2 verify too."""
    calls: list[str] = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            calls.append(str(hash))
            return super().verify(hash, password)

    monkeypatch.setattr(passwords, "_hasher", CountingHasher())
    client.post("/auth/login", data={"username": "nobody@uni.edu", "password": "whatever1"})
    assert len(calls) == 1
    assert calls[0].startswith("$argon2")


def _token(sub: str, *, expires_in: int, secret: str = SECRET, typ: str = "user") -> str:
    now = datetime.now(UTC)
    payload = {"sub": sub, "typ": typ, "iat": now, "exp": now + timedelta(seconds=expires_in)}
    return jwt.encode(payload, secret, algorithm="HS256")


@pytest.mark.parametrize(
    ("make_token", "message"),
    [
        (lambda uid: _token(uid, expires_in=-10), "token has expired"),
        (
            lambda uid: _token(uid, expires_in=600, secret="someone-elses-key-0123456789"),
            "token is invalid",
        ),
        (lambda uid: _token(uid, expires_in=600, typ="agent"), "token is not valid here"),
        (lambda uid: "garbage.token.here", "token is invalid"),
        (lambda uid: _token("999999", expires_in=600), "no longer exists"),
    ],
)
def test_bad_tokens_are_401(client: TestClient, make_token: object, message: str) -> None:
    user_id = create_user(client, "ana@uni.edu", Role.STUDENT)
    token = make_token(str(user_id))  # type: ignore[operator]
    answer = client.get("/admin/sessions", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert message in answer.json()["detail"]
    assert answer.headers["www-authenticate"] == "Bearer"


def test_no_token_is_401(client: TestClient) -> None:
    answer = client.post("/sessions/start", params={"exam_id": 1})
    assert answer.status_code == 401
    assert "not authenticated" in answer.json()["detail"]


def test_a_rejected_password_is_not_echoed_back(client: TestClient) -> None:
    answer = client.post(
        "/auth/register", json={"email": "ana@uni.edu", "password": "tiny7", "role": "student"}
    )
    assert answer.status_code == 422
    assert "tiny7" not in answer.text


def test_mixed_case_email_signs_in_as_lower_case_login(client: TestClient) -> None:
    client.post(
        "/auth/register",
        json={"email": "Ana.Lopez@Uni.edu", "password": "long-enough", "role": "student"},
    )
    token = client.post(
        "/auth/login", data={"username": "ana.lopez@uni.edu", "password": "long-enough"}
    )
    assert token.status_code == 200
