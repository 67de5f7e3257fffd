"""A scored session to review: users of every role, an exam a teacher owns, a candidate's
ProctorBE session with events, and analysis-style events (with durations) via the core."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.support.api import create_user, login
from vigil.core.events import service as events
from vigil.core.identity.models import Role
from vigil.core.sessions.models import ProctoringSession
from vigil.runtime import Runtime
from vigil.storage.db import utcnow

USERS = {
    "candidate": ("cand@uni.edu", Role.STUDENT),
    "other_student": ("other@uni.edu", Role.STUDENT),
    "exam_teacher": ("teach@uni.edu", Role.TEACHER),
    "other_teacher": ("teach2@uni.edu", Role.TEACHER),
    "admin": ("root@uni.edu", Role.ADMIN),
}


@dataclass
class World:
    client: TestClient
    headers: dict[str, dict[str, str]]
    user_ids: dict[str, int]
    exam_id: int
    session_id: int
    event_ids: dict[str, list[int]]

    def post_event(self, event_type: str, severity: int = 1, session_id: int | None = None) -> int:
        answer = self.client.post(
            "/events/",
            params={
                "session_id": session_id or self.session_id,
                "event_type": event_type,
                "severity": severity,
            },
            headers=self.headers["candidate"],
        )
        assert answer.status_code == 200, answer.text
        event_id: int = answer.json()["id"]
        self.event_ids.setdefault(event_type, []).append(event_id)
        return event_id

    def stored_session(self, session_id: int | None = None) -> ProctoringSession:
        runtime: Runtime = self.client.app.state.runtime  # type: ignore[attr-defined]

        async def run() -> ProctoringSession:
            async with runtime.sessionmaker() as db:
                found = await db.get(ProctoringSession, session_id or self.session_id)
                assert found is not None
                return found

        assert self.client.portal is not None
        return self.client.portal.call(run)

    def analysed_event(self, event_type: str, seconds: float, **extra: Any) -> int:
        """An event as an analysis job records it: with a start, an end and a duration."""
        runtime: Runtime = self.client.app.state.runtime  # type: ignore[attr-defined]

        async def run() -> int:
            async with runtime.sessionmaker.begin() as db:
                session = await db.get(ProctoringSession, self.session_id)
                assert session is not None
                start = utcnow() - timedelta(seconds=seconds)
                event = await events.record_in(
                    db,
                    session,
                    event_type=event_type,
                    severity=1,
                    source="analysis",
                    occurred_at=start,
                    ended_at=start + timedelta(seconds=seconds),
                    duration_seconds=seconds,
                    **extra,
                )
                return event.id

        assert self.client.portal is not None
        event_id: int = self.client.portal.call(run)
        self.event_ids.setdefault(event_type, []).append(event_id)
        return event_id


def build_world(client: TestClient) -> World:
    user_ids = {
        name: create_user(client, login_name, role) for name, (login_name, role) in USERS.items()
    }
    headers = {name: login(client, login_name) for name, (login_name, _) in USERS.items()}
    headers["nobody"] = {}
    exam = client.post("/exams/", params={"title": "Physics"}, headers=headers["exam_teacher"])
    assert exam.status_code == 200, exam.text
    session = client.post(
        "/sessions/start", params={"exam_id": exam.json()["id"]}, headers=headers["candidate"]
    )
    world = World(client, headers, user_ids, exam.json()["id"], session.json()["session_id"], {})
    for event_type in ("MULTIPLE_FACES", "MULTIPLE_FACES", "TAB_SWITCH", "KEYBOARD"):
        world.post_event(event_type, severity=0 if event_type == "KEYBOARD" else 1)
    return world  # 4 + 4 + 3 = 11 points: High
