"""Reviewer reads on a 60-minute SparkProctoring session (900 screen segments, 900 telemetry
chunks): HLS playlist and one-minute `events?from&to` latency, and the server's memory while
serving them, side by side with /healthz (the cheapest request) in the same run.

    .venv/bin/python bench/bench_review.py [--segments 900] [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from common import free_port, rss_mib, wait_ready
from vigil import telemetry
from vigil.simulate.media import mpegts_segment

VIGIL = str(Path(sys.executable).with_name("vigil"))
PASSWORD = "bench-teacher-1"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms
EVENTS_PER_CHUNK = 20


def blocks(chunk: int) -> list[dict[str, object]]:
    start = T0 + chunk * 4000
    events: list[dict[str, object]] = [
        {"type": "event", "timestamp": start + j * (4000 // EVENTS_PER_CHUNK),
         "event": random.choice(["mouse", "keyboard", "app_switch", "clipboard"]), "n": j}
        for j in range(EVENTS_PER_CHUNK)
    ]  # fmt: skip
    events.append(
        {"type": "host_info", "timestamp": start + 3999, "kind": "heartbeat", "displays": 1}
    )
    return events


async def record_session(http: httpx.AsyncClient, teacher: dict[str, str], segments: int) -> int:
    created = (
        await http.post("/api/v1/sessions", json={"title": "60 min"}, headers=teacher)
    ).json()
    grant = (
        await http.post("/api/v1/agent/auth", json={"session_key": created["session_key"]})
    ).json()
    agent = {"Authorization": f"Bearer {grant['token']}"}
    session_id, key = grant["session_id"], base64.b64decode(grant["encryption_key"])
    variants = [mpegts_segment(4.0, start_seconds=4.0 * v, seed=v) for v in range(8)]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(segments):
        queue.put_nowait(index)

    async def uploader() -> None:
        while not queue.empty():
            index = queue.get_nowait()
            chunk = telemetry.encode_chunk(key, session_id, index, blocks(index))
            for data in (variants[index % 8], chunk):
                answer = await http.post(
                    "/api/v1/upload", headers=agent,
                    data={"session_id": str(session_id), "chunk_idx": str(index)},
                    files={"file": ("c", data)},
                )  # fmt: skip
                answer.raise_for_status()

    await asyncio.gather(*(uploader() for _ in range(8)))
    await http.post("/api/v1/agent/end", headers=agent)
    return int(session_id)


async def timed(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], **params: object
) -> float:
    started = time.perf_counter()
    answer = await http.get(url, headers=headers, params=params)
    answer.raise_for_status()
    return (time.perf_counter() - started) * 1000


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(url: str, pid: int, segments: int, requests: int) -> list[str]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        token = await http.post(
            "/auth/login", data={"username": "t@bench.dev", "password": PASSWORD}
        )
        teacher = {"Authorization": f"Bearer {token.json()['access_token']}"}
        loading = time.perf_counter()
        session_id = await record_session(http, teacher, segments)
        load_seconds = time.perf_counter() - loading
        playlist = f"/api/v1/sessions/{session_id}/playlist/screen.m3u8"
        events = f"/api/v1/sessions/{session_id}/events"
        text = (await http.get(playlist, headers=teacher)).text
        assert text.count("#EXTINF") == segments
        assert text.rstrip().endswith("#EXT-X-ENDLIST")
        samples: dict[str, list[float]] = {"GET /healthz (baseline)": [], "GET playlist": [],
                                           "GET events (1 min window)": []}  # fmt: skip
        memory = [rss_mib(pid)]
        session_ms = segments * 4000
        for round_ in range(requests):
            samples["GET /healthz (baseline)"].append(await timed(http, "/healthz", {}))
            samples["GET playlist"].append(await timed(http, playlist, teacher))
            start = T0 + random.randrange(0, max(1, session_ms - 60_000))
            samples["GET events (1 min window)"].append(
                await timed(http, events, teacher, **{"from": start, "to": start + 60_000})
            )
            if round_ % max(1, requests // 5) == 0:
                memory.append(rss_mib(pid))
        memory.append(rss_mib(pid))
        window = (
            await http.get(events, headers=teacher, params={"from": T0, "to": T0 + 60_000})
        ).json()
    lines = [
        f"session: {segments} screen segments + {segments} telemetry chunks "
        f"({segments * (EVENTS_PER_CHUNK + 1)} agent events), uploaded in {load_seconds:.1f} s; "
        f"a one-minute window holds {window['count']} events",
        "",
        "| request | n | p50 ms | p99 ms | mean ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in samples.items():
        lines.append(f"| {name} | {len(values)} | {pct(values, 0.5):.1f} | {pct(values, 0.99):.1f} "
                     f"| {statistics.fmean(values):.1f} |")  # fmt: skip
    lines += [
        "",
        "server RSS (MiB) sampled while serving: " + ", ".join(f"{m:.0f}" for m in memory),
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--segments", type=int, default=900)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="vigil-bench-review-"))
    env = {**os.environ, "VIGIL_DATA_DIR": str(data_dir), "VIGIL_LOG_LEVEL": "WARNING"}
    env.pop("VIGIL_DATABASE_URL", None)
    port = free_port()
    subprocess.run([VIGIL, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([VIGIL, "users", "create", "--login", "t@bench.dev", "--email", "t@bench.dev",
                    "--password", PASSWORD, "--role", "teacher"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    server = subprocess.Popen([VIGIL, "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url)
        lines = asyncio.run(measure(url, server.pid, args.segments, args.requests))
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
