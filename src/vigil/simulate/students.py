"""Virtual students: a SUSIE browser client and a SparkProctoring desktop agent, each
speaking its real HTTP contract with real media the project makes itself."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from vigil import telemetry
from vigil.simulate.media import jpeg_snapshot, mpegts_segment, webm_opus_audio
from vigil.simulate.traffic import Client, SentChunk

SUSIE = "/susie/api/v1/monitoreo"
AUDIO_EVERY = 15.0
SNAPSHOT_EVERY = 10.0
BROWSER_EVENT_EVERY = 30.0
SEGMENT_EVERY = 4.0
SEGMENT_VARIANTS = 8


@dataclass(frozen=True)
class Schedule:
    started: float
    deadline: float

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


@lru_cache(maxsize=1)
def audio_chunk() -> bytes:
    return webm_opus_audio(AUDIO_EVERY)


@lru_cache(maxsize=SEGMENT_VARIANTS)
def screen_segment(variant: int) -> bytes:
    return mpegts_segment(SEGMENT_EVERY, start_seconds=SEGMENT_EVERY * variant, seed=variant)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def periodic(
    schedule: Schedule, every: float, action: Callable[[int], Awaitable[None]]
) -> None:
    """Call `action(n)` every `every` seconds from a random offset until the deadline."""
    await asyncio.sleep(random.uniform(0, every))
    n = 0
    while schedule.remaining() > 0:
        due = time.monotonic() + every
        await action(n)
        n += 1
        await asyncio.sleep(max(0.0, min(due - time.monotonic(), schedule.remaining())))


class SusieStudent:
    """A browser tab: session start, 15 s audio chunks, a snapshot every 10 s, browser events."""

    def __init__(
        self, client: Client, number: int, run_id: str, headers: dict[str, str], login: str
    ) -> None:
        self.client = client
        self.number = number
        self.exam_session_id = f"sim-{run_id}-{number}"
        self.headers = headers
        self.login = login
        self.session_id: int | None = None

    def meta(self, timestamp: str) -> str:
        return json.dumps(
            {"correlation_id": self.exam_session_id, "exam_id": "simulated-exam",
             "student_id": self.login, "timestamp": timestamp, "source": "vigil-simulator"}
        )  # fmt: skip

    async def run(self, schedule: Schedule) -> None:
        answer = await self.client.call(
            "susie sesiones/start", "POST", f"{SUSIE}/sesiones/start", headers=self.headers,
            json={"examSessionId": self.exam_session_id, "examId": "simulated-exam",
                  "userId": self.login, "timestamp": iso_now()},
        )  # fmt: skip
        if answer is None or not answer.is_success:
            return
        self.session_id = answer.json()["session_id"]
        await asyncio.gather(
            periodic(schedule, AUDIO_EVERY, self.send_audio),
            periodic(schedule, SNAPSHOT_EVERY, self.send_snapshot),
            periodic(schedule, BROWSER_EVENT_EVERY, self.send_event),
        )
        await self.client.call(
            "susie sesiones/end", "POST", f"{SUSIE}/sesiones/end", headers=self.headers,
            json={"examSessionId": self.exam_session_id, "status": "submitted",
                  "timestamp": iso_now()},
        )  # fmt: skip

    async def send_audio(self, index: int) -> None:
        data = audio_chunk()
        await self._evidence(
            "susie evidencias/audios", "audio", "microphone", index, data, "audio/webm",
            {"chunk_index": index, "type": "AUDIO_CHUNK"}, iso_now(),
        )  # fmt: skip

    async def send_snapshot(self, index: int) -> None:
        data = jpeg_snapshot(seed=(self.number + index) % 16)
        timestamp = iso_now()
        ms = int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000)
        await self._evidence(
            "susie evidencias/snapshots", "snapshot", "webcam", ms, data, "image/jpeg",
            {"type": "SNAPSHOT", "trigger": "PERIODIC", "browser_focus": True}, timestamp,
        )  # fmt: skip

    async def _evidence(
        self, endpoint: str, kind: str, stream: str, index: int, data: bytes, mime: str,
        payload_info: dict[str, object], timestamp: str,
    ) -> None:  # fmt: skip
        path = "audios" if kind == "audio" else "snapshots"
        self.client.traffic.offered.add(sha256(data))
        answer = await self.client.call(
            endpoint, "POST", f"{SUSIE}/evidencias/{path}", headers=self.headers, size=len(data),
            data={"meta": self.meta(timestamp), "payload_info": json.dumps(payload_info)},
            files={"file": (f"{kind}.bin", data, mime)},
        )  # fmt: skip
        if answer is not None and answer.is_success and self.session_id is not None:
            self.client.traffic.chunks.append(
                SentChunk(self.session_id, kind, stream, index, sha256(data))
            )

    async def send_event(self, index: int) -> None:
        trigger = random.choice(["TAB_SWITCH", "LOSS_FOCUS", "FULLSCREEN_EXIT"])
        await self.client.call(
            "susie evidencias/eventos", "POST", f"{SUSIE}/evidencias/eventos",
            headers=self.headers,
            json={"meta": json.loads(self.meta(iso_now())),
                  "payload_info": {"type": "BROWSER_EVENT", "trigger": trigger,
                                   "duration_seconds": random.randint(1, 20)}},
        )  # fmt: skip


class SparkAgent:
    """A desktop agent: joins with the session key, uploads a 4 s screen segment and a
    telemetry chunk every 4 s, then ends the session."""

    def __init__(self, client: Client, number: int, staff: dict[str, str]) -> None:
        self.client = client
        self.number = number
        self.staff = staff
        self.session_id: int | None = None
        self.key = b""
        self.headers: dict[str, str] = {}

    async def run(self, schedule: Schedule) -> None:
        created = await self.client.call(
            "spark sessions", "POST", "/api/v1/sessions", headers=self.staff,
            json={"title": f"simulated agent {self.number}"},
        )  # fmt: skip
        if created is None or not created.is_success:
            return
        joined = await self.client.call(
            "spark agent/auth", "POST", "/api/v1/agent/auth",
            json={"session_key": created.json()["session_key"], "agent_version": "sim",
                  "os": "linux", "hostname": f"sim-{self.number}"},
        )  # fmt: skip
        if joined is None or not joined.is_success:
            return
        grant = joined.json()
        self.session_id = int(grant["session_id"])
        self.key = base64.b64decode(grant["encryption_key"])
        self.headers = {"Authorization": f"Bearer {grant['token']}"}
        await periodic(schedule, SEGMENT_EVERY, self.send_chunks)
        await self.client.call("spark agent/end", "POST", "/api/v1/agent/end", headers=self.headers)

    async def send_chunks(self, index: int) -> None:
        assert self.session_id is not None
        segment = screen_segment(index % SEGMENT_VARIANTS)
        blocks = [
            {"type": "event", "timestamp": int(time.time() * 1000), "event": "keyboard",
             "keys": random.randint(0, 40)},
            {"type": "host_info", "timestamp": int(time.time() * 1000), "kind": "heartbeat",
             "displays": 1},
        ]  # fmt: skip
        chunk = telemetry.encode_chunk(self.key, self.session_id, index, blocks)
        await asyncio.gather(
            self._upload("spark upload .ts", "video", "screen", index, segment),
            self._upload("spark upload .bin", "telemetry", "telemetry", index, chunk),
        )

    async def _upload(self, endpoint: str, kind: str, stream: str, index: int, data: bytes) -> None:
        assert self.session_id is not None
        self.client.traffic.offered.add(sha256(data))
        answer = await self.client.call(
            endpoint, "POST", "/api/v1/upload", headers=self.headers, size=len(data),
            data={"session_id": str(self.session_id), "chunk_idx": str(index),
                  "stream_type": "screen"},
            files={"file": (f"chunk_{index}.{'ts' if kind == 'video' else 'bin'}", data)},
        )  # fmt: skip
        if answer is not None and answer.is_success:
            self.client.traffic.chunks.append(
                SentChunk(self.session_id, kind, stream, index, sha256(data))
            )
