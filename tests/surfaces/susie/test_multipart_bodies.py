"""Broken multipart bodies on an upload: each is a 400 that says what is wrong, and stores
nothing (web/multipart.py reads the parts as they arrive)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.support.api import create_user, login
from tests.support.forms import Field, multipart
from vigil.core.identity.models import Role
from vigil.simulate.media import jpeg_snapshot

SNAPSHOTS = "/susie/api/v1/monitoreo/evidencias/snapshots"
META = json.dumps({"correlation_id": "c1", "timestamp": "2026-02-19T10:00:00Z"})


@pytest.fixture
def student(client: TestClient) -> dict[str, str]:
    create_user(client, "ana@uni.edu", Role.STUDENT)
    return login(client, "ana@uni.edu")


def snapshot_fields() -> list[Field]:
    return [
        Field("meta", META),
        Field("payload_info", json.dumps({"trigger": "PERIODIC"})),
        Field("file", jpeg_snapshot(), "s.jpg", "image/jpeg"),
    ]


def refused(client: TestClient, student: dict[str, str], body: bytes, content_type: str) -> str:
    answer = client.post(SNAPSHOTS, content=body, headers={**student, "Content-Type": content_type})
    assert answer.status_code == 400, answer.text
    assert answer.json()["status"] == "error"
    message: str = answer.json()["message"]
    return message


def nothing_stored(client: TestClient, student: dict[str, str]) -> None:
    body, content_type = multipart(*snapshot_fields())
    answer = client.post(SNAPSHOTS, content=body, headers={**student, **content_type})
    assert answer.status_code == 200, answer.text
    assert answer.json()["duplicate"] is False  # the refused attempts stored nothing


def test_a_body_cut_off_before_its_closing_boundary(
    client: TestClient, student: dict[str, str]
) -> None:
    body, content_type = multipart(*snapshot_fields())
    cut = body[: body.rindex(b"\r\n--")]  # the file's bytes all there, the end missing
    message = refused(client, student, cut, content_type["Content-Type"])
    assert "ended before its closing boundary" in message
    nothing_stored(client, student)


def test_a_body_cut_off_inside_the_file(client: TestClient, student: dict[str, str]) -> None:
    body, content_type = multipart(*snapshot_fields())
    message = refused(client, student, body[: len(body) // 2], content_type["Content-Type"])
    assert "ended before its closing boundary" in message
    nothing_stored(client, student)


def test_a_body_that_is_not_multipart_at_all(client: TestClient, student: dict[str, str]) -> None:
    _, content_type = multipart(*snapshot_fields())
    message = refused(client, student, b"\x00" * 5000, content_type["Content-Type"])
    assert "multipart body" in message
    nothing_stored(client, student)


def test_a_json_body_is_refused_by_its_content_type(
    client: TestClient, student: dict[str, str]
) -> None:
    message = refused(client, student, b'{"meta": {}}', "application/json")
    assert "multipart/form-data with a boundary" in message


def test_a_part_without_a_name(client: TestClient, student: dict[str, str]) -> None:
    body, content_type = multipart(*snapshot_fields())
    nameless = body.replace(b'form-data; name="meta"', b"form-data", 1)
    message = refused(client, student, nameless, content_type["Content-Type"])
    assert "name" in message
    nothing_stored(client, student)


def test_too_many_parts(client: TestClient, student: dict[str, str]) -> None:
    extra = [Field(f"extra{k}", "x") for k in range(40)]
    body, content_type = multipart(*extra, *snapshot_fields())
    message = refused(client, student, body, content_type["Content-Type"])
    assert "more than 32 parts" in message
    nothing_stored(client, student)


def test_unknown_parts_before_the_file_are_skipped(
    client: TestClient, student: dict[str, str]
) -> None:
    fields = snapshot_fields()
    body, content_type = multipart(fields[0], Field("note", "hello"), *fields[1:])
    answer = client.post(SNAPSHOTS, content=body, headers={**student, **content_type})
    assert answer.status_code == 200, answer.text
