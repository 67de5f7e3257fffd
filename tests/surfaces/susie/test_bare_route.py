"""SUSIE's endpoints skip FastAPI's dependency solving and response handling (BareRoute):
what every other request gets, they get too: CORS, metrics, the contract's error shapes."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.support.api import create_user, login
from tests.support.forms import Field, multipart
from vigil.app import create_app
from vigil.core.evidence import service as evidence
from vigil.core.identity.models import Role
from vigil.settings import Settings
from vigil.simulate.media import jpeg_snapshot

SNAPSHOTS = "/susie/api/v1/monitoreo/evidencias/snapshots"
ORIGIN = "http://localhost:3000"  # allowed by the test settings


def snapshot_form() -> tuple[bytes, dict[str, str]]:
    return multipart(
        Field("meta", json.dumps({"correlation_id": "c1", "timestamp": "2026-02-19T10:00:00Z"})),
        Field("payload_info", json.dumps({"trigger": "PERIODIC"})),
        Field("file", jpeg_snapshot(), "s.jpg", "image/jpeg"),
    )


@pytest.fixture
def student(client: TestClient) -> dict[str, str]:
    create_user(client, "ana@uni.edu", Role.STUDENT)
    return login(client, "ana@uni.edu")


def test_a_cross_origin_upload_gets_cors_headers(
    client: TestClient, student: dict[str, str]
) -> None:
    body, content_type = snapshot_form()
    answer = client.post(SNAPSHOTS, content=body, headers={**student, **content_type,
                                                             "Origin": ORIGIN})  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["duplicate"] is False


def test_uploads_are_counted_under_their_route(client: TestClient, student: dict[str, str]) -> None:
    body, content_type = snapshot_form()
    client.post(SNAPSHOTS, content=body, headers={**student, **content_type})
    text = client.get("/metrics").text
    assert f'vigil_http_requests_total{{method="POST",route="{SNAPSHOTS}",status="200"}}' in text


def test_an_unexpected_failure_is_a_bare_500_in_susie_shape(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(evidence, "ingest_through", broken)
    with TestClient(create_app(settings), raise_server_exceptions=False) as http:
        create_user(http, "ana@uni.edu", Role.STUDENT)
        body, content_type = snapshot_form()
        headers = {**login(http, "ana@uni.edu"), **content_type}
        answer = http.post(SNAPSHOTS, content=body, headers=headers)
    assert answer.status_code == 500
    assert answer.json() == {"status": "error", "code": "ERROR",
                             "message": "internal error; the event was logged",
                             "field": None}  # fmt: skip
    assert "secret" not in answer.text


def test_no_token_is_401_in_susie_shape(client: TestClient) -> None:
    body, content_type = snapshot_form()
    answer = client.post(SNAPSHOTS, content=body, headers=content_type)
    assert answer.status_code == 401
    assert answer.json()["code"] == "UNAUTHORIZED"


def test_other_methods_still_go_through_the_router(client: TestClient) -> None:
    answer = client.get(SNAPSHOTS)
    assert answer.status_code == 405
    assert answer.json()["status"] == "error"
    asking = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    preflight = client.options(SNAPSHOTS, headers=asking)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN


def test_behind_a_root_path_the_router_gives_the_same_answers(settings: Settings) -> None:
    """A path under a root path (as uvicorn --root-path gives it) is not one the short way
    in (web/direct.py) knows, and the router serves it: the answers, errors included, are
    the same."""
    answers = []
    for root_path in ("", "/vigil"):
        with TestClient(create_app(settings), root_path=root_path) as http:
            if not root_path:
                create_user(http, "ana@uni.edu", Role.STUDENT)
            student = login(http, "ana@uni.edu")
            body, content_type = snapshot_form()
            url = root_path + SNAPSHOTS
            stored = http.post(url, content=body, headers={**student, **content_type})
            wrong = multipart(Field("file", jpeg_snapshot(), "s.jpg", "image/jpeg"))
            refused = http.post(url, content=wrong[0], headers={**student, **wrong[1]})
            answers.append([(a.status_code, a.json()) for a in (stored, refused)])
    (first_stored, first_refused), (again_stored, again_refused) = answers
    assert first_stored[0] == again_stored[0] == 200
    assert first_stored[1]["duplicate"] is False
    assert again_stored[1]["duplicate"] is True
    assert first_refused == again_refused
    assert first_refused[0] == 400
    assert "wrong field order" in first_refused[1]["message"]
