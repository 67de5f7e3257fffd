"""Signing in the way a browser does: a session cookie plus a CSRF token to echo."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.api import PASSWORD, create_user, login
from tests.surfaces.attempts.helpers import exam_file, run_import, write_exam_dir
from vigil.core.identity.models import Role

ORIGIN = "http://localhost:3000"


@pytest.fixture
def browser(client: TestClient, tmp_path: Path) -> TestClient:
    run_import(client, write_exam_dir(tmp_path / "exams", [exam_file()], {"algebra-1": True}))
    create_user(client, "ana@uni.edu", Role.STUDENT)
    return client


def sign_in(client: TestClient) -> str:
    answer = client.post("/api/auth/login", json={"login": "ana@uni.edu", "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["csrfToken"])


def test_login_sets_an_httponly_session_and_a_readable_csrf_cookie(browser: TestClient) -> None:
    answer = browser.post("/api/auth/login", json={"login": "ana@uni.edu", "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["role"] == "student"
    cookies = answer.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("vigil_session="))
    csrf = next(c for c in cookies if c.startswith("vigil_csrf="))
    assert "HttpOnly" in session
    assert "samesite=lax" in session.lower()
    assert "Secure" not in session  # plain http here
    assert "HttpOnly" not in csrf
    assert browser.cookies["vigil_csrf"] == body["csrfToken"]


def test_cookie_is_secure_over_https(browser: TestClient) -> None:
    answer = browser.post(
        "https://testserver/api/auth/login", json={"login": "ana@uni.edu", "password": PASSWORD}
    )
    cookies = answer.headers.get_list("set-cookie")
    assert all("Secure" in cookie for cookie in cookies)


def test_form_login_works_too(browser: TestClient) -> None:
    answer = browser.post("/api/auth/login", data={"username": "ana@uni.edu", "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    assert "vigil_session" in browser.cookies


def test_wrong_password_and_bad_body(browser: TestClient) -> None:
    wrong = browser.post("/api/auth/login", json={"login": "ana@uni.edu", "password": "nope"})
    assert (wrong.status_code, wrong.json()["code"]) == (401, "UNAUTHENTICATED")
    assert "vigil_session" not in browser.cookies
    empty = browser.post("/api/auth/login", json={"login": "ana@uni.edu"})
    assert (empty.status_code, empty.json()["code"]) == (400, "INVALID_PAYLOAD")
    assert empty.json()["field"] == "password"


def test_the_whole_flow_with_the_cookie(browser: TestClient) -> None:
    csrf = sign_in(browser)
    assert browser.get("/api/exams").status_code == 200  # reads need no CSRF token
    header = {"X-CSRF-Token": csrf}
    started = browser.post("/api/exams/algebra-1/attempt", headers=header)
    assert started.status_code == 201, started.text
    attempt_id = started.json()["attemptId"]
    saved = browser.put(
        f"/api/attempts/{attempt_id}",
        json={"answers": [{"questionId": "q1", "response": "b"}]},
        headers=header,
    )
    assert saved.status_code == 200, saved.text
    submitted = browser.post(f"/api/attempts/{attempt_id}/submit", headers=header)
    assert submitted.status_code == 200, submitted.text
    assert browser.get("/api/progress/me").json()["exams"][0]["status"] == "finished"


@pytest.mark.parametrize("sent", [None, "wrong", ""])
def test_writes_without_the_right_csrf_header_are_forbidden(
    browser: TestClient, sent: str | None
) -> None:
    sign_in(browser)
    headers = {} if sent is None else {"X-CSRF-Token": sent}
    answer = browser.post("/api/exams/algebra-1/attempt", headers=headers)
    assert answer.status_code == 403
    assert answer.json()["code"] == "FORBIDDEN"
    assert answer.json()["field"] == "X-CSRF-Token"


def test_csrf_token_of_another_session_is_refused(browser: TestClient) -> None:
    stale = sign_in(browser)
    sign_in(browser)  # a new session: a new token bound into the new cookie
    answer = browser.post("/api/exams/algebra-1/attempt", headers={"X-CSRF-Token": stale})
    assert answer.status_code == 403


def test_bearer_tokens_need_no_csrf(browser: TestClient) -> None:
    token = login(browser, "ana@uni.edu")
    assert browser.post("/api/exams/algebra-1/attempt", headers=token).status_code == 201


def test_a_bearer_token_is_not_a_session_cookie(browser: TestClient) -> None:
    token = login(browser, "ana@uni.edu")["Authorization"].removeprefix("Bearer ")
    browser.cookies.set("vigil_session", token)
    assert browser.get("/api/exams").status_code == 401
    browser.cookies.clear()
    sign_in(browser)
    cookie = browser.cookies["vigil_session"]
    browser.cookies.clear()
    assert (
        browser.get("/api/exams", headers={"Authorization": f"Bearer {cookie}"}).status_code == 401
    )


def test_logout_clears_the_cookies(browser: TestClient) -> None:
    csrf = sign_in(browser)
    assert browser.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert "vigil_session" not in browser.cookies
    assert browser.get("/api/exams").status_code == 401


def test_cors_preflight_allows_the_angular_origin_with_credentials(browser: TestClient) -> None:
    answer = browser.options(
        "/api/attempts/x",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "x-csrf-token,content-type",
        },
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert answer.headers["access-control-allow-credentials"] == "true"
