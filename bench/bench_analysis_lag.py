"""Analysis lag in scaled mode: how many SUSIE students one worker core keeps up with.

Real processes: PostgreSQL (a fresh database), RabbitMQ, one `vigil serve` (API only) and
one `vigil worker --threads 1` pinned to one CPU (--cpu). N virtual students sign up through
ProctorBE and then, at the simulator's rates, each send a 640x480 webcam snapshot every 10 s
(faces and no faces alternating) and a 15 s WebM/Opus audio chunk (espeak-ng speech inside
silence) every 15 s, for --duration seconds, starting at staggered offsets. Afterwards the
bench waits for the queue to drain and reads, for every evidence row, its lag: analyzed_at
minus received_at. A student count "keeps up" when the p95 lag stays under 30 s and the
backlog does not grow.

    python bench/bench_analysis_lag.py [--students 4,8,12] [--duration 120] [--cpu 1]

Needs PostgreSQL on 127.0.0.1:5432 (trust) and RabbitMQ on 127.0.0.1:5672 (guest).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import cpu_seconds, free_port, wait_ready  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PG = "postgresql://postgres@127.0.0.1:5432"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"
SUSIE = "/susie/api/v1/monitoreo"
SNAPSHOT_EVERY, AUDIO_EVERY, AUDIO_SECONDS = 10.0, 15.0, 15.0


def media() -> tuple[list[bytes], bytes]:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "src"))
    from tests.support import analysis_assets as assets

    face = assets.jpeg(assets.on_canvas(assets.astronaut()))
    nobody = assets.jpeg(assets.on_canvas(assets.coffee()))
    return [face, nobody], fifteen_seconds_of_speech(assets.spoken_wav())


def fifteen_seconds_of_speech(wav: bytes) -> bytes:
    import av
    import numpy as np

    with av.open(io.BytesIO(wav)) as source:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        pcm = [
            f.to_ndarray().reshape(-1)
            for frame in source.decode(source.streams.audio[0])
            for f in resampler.resample(frame)
        ]
    speech = np.concatenate(pcm).astype(np.int16)[: 48000 * 10]
    samples = np.zeros(int(48000 * AUDIO_SECONDS), np.int16)
    samples[48000 : 48000 + speech.size] = speech
    out = io.BytesIO()
    with av.open(out, mode="w", format="webm") as container:
        stream = container.add_stream("libopus", rate=48000)
        stream.layout = "mono"
        for start in range(0, samples.size, 960):
            frame = av.AudioFrame.from_ndarray(
                samples[start : start + 960].reshape(1, -1), format="s16", layout="mono"
            )
            frame.sample_rate, frame.pts = 48000, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def sql(database: str, statement: str) -> list[tuple[object, ...]]:
    import asyncpg

    async def run() -> list[tuple[object, ...]]:
        connection = await asyncpg.connect(f"{PG}/{database}")
        try:
            return [tuple(row) for row in await connection.fetch(statement)]
        finally:
            await connection.close()

    return asyncio.run(run())


def multipart(fields: list[tuple[str, bytes | str, str | None]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = bytearray()
    for name, value, filename in fields:
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'.encode()
        body += f'; filename="{filename}"'.encode() if filename else b""
        body += b"\r\n\r\n" + (value.encode() if isinstance(value, str) else value) + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return bytes(body), f"multipart/form-data; boundary={boundary}"


async def sign_up(http: httpx.AsyncClient, n: int, run: str, gate: asyncio.Semaphore) -> str:
    """A student account and its token (a few at a time: argon2 is meant to be slow)."""
    email = f"s{n}-{run}@bench.edu"
    async with gate:
        await http.post("/auth/register", json={"email": email, "password": "bench-pass-1"})
        answer = await http.post(
            "/auth/login", data={"username": email, "password": "bench-pass-1"}
        )
    return str(answer.json()["access_token"])


async def student(
    http: httpx.AsyncClient, n: int, run: str, token: str, images: list[bytes], audio: bytes,
    duration: float, offset: float, errors: list[str],
) -> None:  # fmt: skip
    email = f"s{n}-{run}@bench.edu"
    headers = {"Authorization": f"Bearer {token}"}
    await asyncio.sleep(offset)
    start = time.monotonic()
    next_snapshot, next_audio, index = start, start + 2, 0
    while time.monotonic() - start < duration:
        now = time.monotonic()
        meta = json.dumps(
            {"correlation_id": f"bench-{run}-{n}", "student_id": email,
             "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"}
        )  # fmt: skip
        if now >= next_snapshot:
            info = json.dumps({"type": "SNAPSHOT", "chunk_index": index})
            body, ctype = multipart(
                [("meta", meta, None), ("payload_info", info, None),
                 ("file", images[index % 2], "s.jpg")]
            )  # fmt: skip
            answer = await http.post(
                f"{SUSIE}/evidencias/snapshots", content=body,
                headers={**headers, "Content-Type": ctype},
            )  # fmt: skip
            if answer.status_code != 200:
                errors.append(answer.text[:200])
            next_snapshot += SNAPSHOT_EVERY
            index += 1
        if now >= next_audio:
            info = json.dumps({"type": "AUDIO_CHUNK", "chunk_index": index})
            body, ctype = multipart(
                [("meta", meta, None), ("payload_info", info, None), ("file", audio, "a.webm")]
            )
            answer = await http.post(
                f"{SUSIE}/evidencias/audios", content=body,
                headers={**headers, "Content-Type": ctype},
            )  # fmt: skip
            if answer.status_code != 200:
                errors.append(answer.text[:200])
            next_audio += AUDIO_EVERY
            index += 1
        await asyncio.sleep(max(0.0, min(next_snapshot, next_audio) - time.monotonic()))


def run_once(students: int, duration: float, cpu: int, images: list[bytes], audio: bytes) -> dict:
    database = f"vigil_lag_{uuid.uuid4().hex[:8]}"
    sql("postgres", f'CREATE DATABASE "{database}"')
    data_dir = Path(f"/tmp/{database}")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "VIGIL_DATA_DIR": str(data_dir),
        "VIGIL_DATABASE_URL": f"{PG}/{database}",
        "VIGIL_SECRET_KEY": "bench-secret-key-0123456789abcdef",
        "VIGIL_QUEUE_URL": AMQP,
        "VIGIL_LOG_LEVEL": "WARNING",
    }
    cli = [sys.executable, "-c", "from vigil.cli import app; app()"]
    subprocess.run([*cli, "migrate"], env=env, check=True, capture_output=True)
    sys.path.insert(0, str(ROOT / "src"))
    from vigil.jobs.rabbitmq import QUEUE_NAME, create_broker

    broker = create_broker(AMQP)
    broker.declare_queue(QUEUE_NAME)
    broker.flush(QUEUE_NAME)
    broker.close()
    port = free_port()
    server = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env)
    worker = subprocess.Popen(
        [*cli, "worker", "--threads", "1"], env=env,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    errors: list[str] = []
    sending: list[float] = []  # when sending started, and the worker's CPU seconds then
    try:
        wait_ready(url)

        async def drive() -> None:
            async with httpx.AsyncClient(base_url=url, timeout=60) as http:
                gate = asyncio.Semaphore(4)
                tokens = await asyncio.gather(
                    *(sign_up(http, n, database, gate) for n in range(students))
                )
                sending.extend([time.monotonic(), cpu_seconds(worker.pid)])
                await asyncio.gather(
                    *(
                        student(
                            http,
                            n,
                            database,
                            tokens[n],
                            images,
                            audio,
                            duration,
                            n * SNAPSHOT_EVERY / students,
                            errors,
                        )
                        for n in range(students)
                    )  # fmt: skip
                )

        asyncio.run(drive())
        sending_seconds = time.monotonic() - sending[0]
        worker_cpu = cpu_seconds(worker.pid) - sending[1]
        backlog_at_end = sql(
            database, "SELECT count(*) FROM evidence WHERE analysis_state = 'pending'"
        )[0][0]
        deadline = time.monotonic() + 600
        while (
            time.monotonic() < deadline
            and sql(database, "SELECT count(*) FROM evidence WHERE analysis_state = 'pending'")[0][
                0
            ]
        ):
            time.sleep(1)
        rows = sql(
            database,
            "SELECT kind, extract(epoch FROM analyzed_at - received_at), analysis_state "
            "FROM evidence ORDER BY id",
        )
    finally:
        for process in (worker, server):
            process.terminate()
            process.wait(timeout=60)
        sql("postgres", f'DROP DATABASE "{database}" WITH (FORCE)')
    lags = sorted(float(lag) for _kind, lag, state in rows if state == "done" and lag is not None)
    return {
        "students": students,
        "evidence": len(rows),
        "failed": sum(1 for row in rows if row[2] == "failed"),
        "errors": len(errors),
        "backlog_at_end_of_sending": backlog_at_end,
        # CPU the worker used while the students sent, over that wall time: its core's load.
        "worker_core_busy": round(worker_cpu / sending_seconds, 2),
        "lag_p50_s": round(statistics.median(lags), 2) if lags else None,
        "lag_p95_s": round(lags[int(0.95 * (len(lags) - 1))], 2) if lags else None,
        "lag_max_s": round(lags[-1], 2) if lags else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", default="4,8,12")
    parser.add_argument("--duration", type=float, default=120)
    parser.add_argument("--cpu", type=int, default=1)
    args = parser.parse_args()
    images, audio = media()
    for count in (int(n) for n in args.students.split(",")):
        result = run_once(count, args.duration, args.cpu, images, audio)
        result["keeps_up"] = bool(result["lag_p95_s"] is not None and result["lag_p95_s"] < 30)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
