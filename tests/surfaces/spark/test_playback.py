"""The generated HLS playlist plays end to end in FFmpeg's own HLS demuxer (through PyAV,
the same libavformat that ffprobe and ffmpeg use), fetched over real HTTP."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import pytest

from tests.support.required import skip_or_fail
from tests.support.server import live_server, seed_users
from vigil.core.identity.models import Role
from vigil.settings import Settings
from vigil.simulate.media import mpegts_segment
from vigil.storage import migrate

FPS = 10


PASSWORD = "teacher-pw-1"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    settings = Settings(data_dir=tmp_path, secret_key="playback-secret-0123456789abcdef")
    migrate.upgrade(settings.resolved_database_url)
    seed_users(settings, [("t@uni.edu", Role.TEACHER)], PASSWORD)
    with live_server(settings) as url:
        yield url


def record(server: str) -> tuple[str, dict[str, str]]:
    """Three contiguous 4 s segments from an agent, session ended: the playlist URL."""
    http = httpx.Client(base_url=server)
    token = http.post("/auth/login", data={"username": "t@uni.edu", "password": PASSWORD})
    teacher = {"Authorization": f"Bearer {token.json()['access_token']}"}
    session = http.post("/api/v1/sessions", json={"title": "play"}, headers=teacher).json()
    grant = http.post("/api/v1/agent/auth", json={"session_key": session["session_key"]}).json()
    agent = {"Authorization": f"Bearer {grant['token']}"}
    for index in range(3):
        segment = mpegts_segment(4.0, start_seconds=4.0 * index, fps=FPS, seed=index)
        answer = http.post(
            "/api/v1/upload",
            headers=agent,
            data={"session_id": str(grant["session_id"]), "chunk_idx": str(index)},
            files={"file": (f"{index}.ts", segment)},
        )
        assert answer.status_code == 200, answer.text
    http.post("/api/v1/agent/end", headers=agent)
    return f"{server}/api/v1/sessions/{grant['session_id']}/playlist/screen.m3u8", teacher


def test_playlist_plays_end_to_end(server: str) -> None:
    url, teacher = record(server)
    auth = f"Authorization: {teacher['Authorization']}\r\n"
    with av.open(url, options={"headers": auth}) as container:
        frames = sum(1 for _ in container.decode(video=0))
        assert container.format.name == "hls"
    assert frames >= 3 * 4 * FPS - 3


def test_ffprobe_reads_the_playlist_end_to_end(server: str) -> None:
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        skip_or_fail("ffprobe is not installed (Debian package ffmpeg; .ci/run installs it)")
    url, teacher = record(server)
    probe = subprocess.run(
        [str(ffprobe), "-v", "error", "-headers", f"Authorization: {teacher['Authorization']}\r\n",
         "-count_frames", "-show_entries", "stream=nb_read_frames,codec_name:format=duration",
         "-of", "json", url],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert probe.stderr == ""
    report = json.loads(probe.stdout)
    assert abs(float(report["format"]["duration"]) - 12.0) < 0.5
    [stream] = report["streams"]
    assert int(stream["nb_read_frames"]) >= 3 * 4 * FPS - 3
