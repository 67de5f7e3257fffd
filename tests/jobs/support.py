"""Real inputs for the analysis jobs: faces from scikit-image's sample picture, speech from
espeak-ng, the simulator's face-less JPEG; and waiting for the queue to finish."""

from __future__ import annotations

import functools
import io
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

import av
import cv2
import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.forms import Field, multipart
from tests.support.required import skip_or_fail
from vigil.core.events.models import ProctoringEvent
from vigil.core.evidence.models import AnalysisState, Evidence
from vigil.runtime import Runtime
from vigil.simulate.media import jpeg_snapshot

SUSIE = "/susie/api/v1/monitoreo"


def _jpeg(rgb: np.ndarray[Any, Any]) -> bytes:
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return bytes(encoded.tobytes())


@functools.cache
def face_jpeg() -> bytes:
    from skimage import data

    return _jpeg(data.astronaut())


@functools.cache
def two_faces_jpeg() -> bytes:
    from skimage import data

    face = data.astronaut()
    return _jpeg(np.hstack([face, face]))


def no_face_jpeg(seed: int = 0) -> bytes:
    return jpeg_snapshot(320, 240, seed=seed)


@functools.cache
def speech_webm() -> bytes:
    """Real speech (espeak-ng) between silences, as a WebM/Opus chunk like SUSIE's."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        skip_or_fail("espeak-ng is not installed (apt-get install espeak-ng)")
        raise AssertionError("unreachable")
    wav = subprocess.run(
        [espeak, "--stdout", "-s", "150", "Please close the book and look at the screen now."],
        check=True,
        capture_output=True,
    ).stdout
    return _to_webm_opus(wav, lead_seconds=1.0, tail_seconds=2.0)


def _to_webm_opus(wav: bytes, lead_seconds: float, tail_seconds: float) -> bytes:
    with av.open(io.BytesIO(wav)) as source:
        stream = source.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        pcm = [
            f.to_ndarray().reshape(-1)
            for frame in source.decode(stream)
            for f in resampler.resample(frame)
        ]
    speech = np.concatenate(pcm).astype(np.int16)
    silence = np.zeros(int(48000 * lead_seconds), np.int16)
    tail = np.zeros(int(48000 * tail_seconds), np.int16)
    samples = np.concatenate([silence, speech, tail])
    out = io.BytesIO()
    with av.open(out, mode="w", format="webm") as container:
        audio = container.add_stream("libopus", rate=48000)
        audio.layout = "mono"  # type: ignore[union-attr]
        for start in range(0, samples.size, 960):
            block = samples[start : start + 960]
            if block.size < 960:
                block = np.pad(block, (0, 960 - block.size))
            frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = 48000
            frame.pts = start
            for packet in audio.encode(frame):  # type: ignore[union-attr]
                container.mux(packet)
        for packet in audio.encode(None):  # type: ignore[union-attr]
            container.mux(packet)
    return out.getvalue()


def susie_meta(timestamp: str, correlation_id: str = "sess_jobs") -> str:
    return json.dumps(
        {
            "correlation_id": correlation_id,
            "exam_id": "12345",
            "student_id": "ana@uni.edu",
            "timestamp": timestamp,
            "source": "frontend_client_v1",
        }
    )


def post_snapshot(client: TestClient, headers: dict[str, str], image: bytes, at: str) -> Any:
    info = {"type": "SNAPSHOT", "trigger": "PERIODIC", "browser_focus": True}
    body, content_type = multipart(
        Field("meta", susie_meta(at)),
        Field("payload_info", json.dumps(info)),
        Field("file", image, "snap.jpg", "image/jpeg"),
    )
    answer = client.post(
        f"{SUSIE}/evidencias/snapshots", content=body, headers={**headers, **content_type}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def post_audio(client: TestClient, headers: dict[str, str], audio: bytes, index: int) -> Any:
    body, content_type = multipart(
        Field("meta", susie_meta("2026-02-19T10:00:00Z")),
        Field("payload_info", json.dumps({"chunk_index": index, "type": "AUDIO_CHUNK"})),
        Field("file", audio, "chunk.webm", "audio/webm"),
    )
    answer = client.post(
        f"{SUSIE}/evidencias/audios", content=body, headers={**headers, **content_type}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def run_db(client: TestClient, action: Callable[[AsyncSession], Any]) -> Any:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def run() -> Any:
        async with runtime.sessionmaker() as db:
            return await action(db)

    assert client.portal is not None
    return client.portal.call(run)


async def pending_count(db: AsyncSession) -> int:
    return int(
        await db.scalar(
            select(func.count())
            .select_from(Evidence)
            .where(Evidence.analysis_state == AnalysisState.PENDING)
        )
        or 0
    )


def wait_until_analysed(check: Callable[[], int], patience: float = 120) -> None:
    """Poll until nothing is pending (a generous deadline: this waits, it times nothing)."""
    deadline = time.monotonic() + patience
    while check() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert check() == 0, "analysis did not finish"


async def session_events(db: AsyncSession, session_id: int) -> list[ProctoringEvent]:
    return list(
        await db.scalars(
            select(ProctoringEvent)
            .where(ProctoringEvent.session_id == session_id)
            .order_by(ProctoringEvent.occurred_at, ProctoringEvent.id)
        )
    )


async def evidence_rows(db: AsyncSession, session_id: int) -> list[Evidence]:
    return list(
        await db.scalars(
            select(Evidence).where(Evidence.session_id == session_id).order_by(Evidence.id)
        )
    )
