"""Operations endpoints, offline docs, CORS, and what a client sees when Vigil breaks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from vigil.app import create_app
from vigil.settings import Settings
from vigil.storage import migrate


def test_root_answers_like_proctorbe(client: TestClient) -> None:
    answer = client.get("/")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


def test_healthz_reports_the_database(client: TestClient) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "database": "up"}


def test_healthz_is_503_when_the_database_is_down(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url="postgresql://nobody@127.0.0.1:9/none",
        secret_key="health-check-secret-0123456789",
    )
    with TestClient(create_app(settings)) as http:
        answer = http.get("/healthz")
    assert answer.status_code == 503
    assert answer.json()["database"] == "down"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_load_nothing_from_the_internet(client: TestClient, page: str) -> None:
    html = client.get(page)
    assert html.status_code == 200
    external = re.findall(r"""(?:src|href)=["'](https?://[^"']+)""", html.text)
    assert external == []
    assets = re.findall(r"""["'](/docs-assets/[^"']+)["']""", html.text)
    assert assets
    for asset in assets:
        answer = client.get(asset)
        assert answer.status_code == 200
        assert len(answer.content) > 1000


def test_openapi_lists_the_proctorbe_paths(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in [
        "/auth/register", "/auth/login", "/exams/", "/sessions/start", "/sessions/end",
        "/events/", "/admin/sessions", "/admin/sessions/{session_id}/events",
    ]:  # fmt: skip
        assert path in paths


def test_metrics_count_requests_by_route(client: TestClient) -> None:
    client.get("/exams/")
    client.get("/admin/sessions/77/events")
    text = client.get("/metrics").text
    assert 'vigil_http_requests_total{method="GET",route="/exams/",status="200"}' in text
    assert 'route="/admin/sessions/{session_id}/events",status="401"' in text


def test_cors_allows_the_configured_origin_with_credentials(client: TestClient) -> None:
    preflight = client.options(
        "/events/",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert preflight.headers["access-control-allow-credentials"] == "true"
    other = client.get("/exams/", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_an_unexpected_failure_is_a_bare_json_500(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/explode")
    async def explode() -> None:
        raise RuntimeError("secret internal detail at /srv/vigil/x.py")

    with TestClient(app, raise_server_exceptions=False) as http:
        answer = http.get("/explode")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/json"
    assert "secret" not in answer.text
    assert "Traceback" not in answer.text


def test_unknown_path_is_a_json_404(client: TestClient) -> None:
    answer = client.get("/no/such/thing")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "Not Found"}


def test_models_and_migrations_agree(database_url: str) -> None:
    migrate.check(database_url)
