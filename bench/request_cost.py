"""Server CPU per request, one request at a time against a live `vigil serve`: a bare
`/healthz`, a SUSIE browser event, a SUSIE 15 s audio upload. CPU is read from /proc.

    .venv/bin/python bench/request_cost.py [--requests 200]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from common import cpu_seconds, free_port, wait_ready
from vigil.simulate.media import webm_opus_audio

VIGIL = str(Path(sys.executable).with_name("vigil"))
SUSIE = "/susie/api/v1/monitoreo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="vigil-cost-")
    env = {**os.environ, "VIGIL_DATA_DIR": data_dir, "VIGIL_LOG_LEVEL": "WARNING"}
    env.pop("VIGIL_DATABASE_URL", None)
    subprocess.run([VIGIL, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([VIGIL, "users", "create", "--login", "s@bench.dev", "--email", "s@bench.dev",
                    "--password", "password1", "--role", "student"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    port = free_port()
    server = subprocess.Popen([VIGIL, "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}")
        wait_ready(f"http://127.0.0.1:{port}")
        login = http.post("/auth/login", data={"username": "s@bench.dev", "password": "password1"})
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        audio = webm_opus_audio(15.0)

        def meta(i: int) -> str:
            moment = f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z"
            body = {
                "correlation_id": f"c{i % 20}",
                "student_id": "s@bench.dev",
                "timestamp": moment,
            }
            return json.dumps(body)

        calls: dict[str, Callable[[int], httpx.Response]] = {
            "GET /healthz": lambda i: http.get("/healthz"),
            "POST SUSIE evidencias/eventos": lambda i: http.post(
                f"{SUSIE}/evidencias/eventos", headers=auth,
                json={"meta": json.loads(meta(i)), "payload_info": {"trigger": "TAB_SWITCH"}}),
            "POST SUSIE evidencias/audios (75 KB)": lambda i: http.post(
                f"{SUSIE}/evidencias/audios", headers=auth,
                data={"meta": meta(i), "payload_info": json.dumps({"chunk_index": i})},
                files={"file": ("a.webm", audio, "audio/webm")}),
        }  # fmt: skip
        print("| request | server CPU ms/request | wall ms/request |\n|---|---:|---:|")
        for name, call in calls.items():
            for i in range(20):
                call(10_000 + i).raise_for_status()
            before, started = cpu_seconds(server.pid), time.perf_counter()
            for i in range(args.requests):
                call(i).raise_for_status()
            cpu = (cpu_seconds(server.pid) - before) * 1000 / args.requests
            wall = (time.perf_counter() - started) * 1000 / args.requests
            print(f"| {name} | {cpu:.1f} | {wall:.1f} |")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
