"""The raw ceiling for SUSIE intake: the same paths and multipart bodies as Vigil, but each
upload only writes its bytes to a temporary file, fsyncs it and renames it into place.
No database, no validation, no authorization. Run by bench/bench_intake.py:

    uvicorn --factory bench.raw_intake_app:create_app --port PORT
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ROOT = Path(os.environ.get("RAW_INTAKE_DIR", "/tmp/raw-intake"))
BASE = "/susie/api/v1/monitoreo"


def store(data: bytes) -> None:
    tmp = ROOT / f".{uuid.uuid4().hex}"
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.rename(ROOT / uuid.uuid4().hex)


async def upload(request: Request) -> JSONResponse:
    form = await request.form()
    upload = form["file"]
    assert not isinstance(upload, str)
    data = await upload.read()
    store(data)
    return JSONResponse({"status": "ok", "session_id": 1, "size": len(data)})


async def ok(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"status": "ok", "session_id": 1, "id": 1, "email": "x", "role": "student",
                         "access_token": "raw", "token_type": "bearer"})  # fmt: skip


def create_app() -> Starlette:
    ROOT.mkdir(parents=True, exist_ok=True)
    return Starlette(
        routes=[
            Route(f"{BASE}/evidencias/audios", upload, methods=["POST"]),
            Route(f"{BASE}/evidencias/snapshots", upload, methods=["POST"]),
            Route(f"{BASE}/evidencias/eventos", ok, methods=["POST"]),
            Route(f"{BASE}/sesiones/start", ok, methods=["POST"]),
            Route(f"{BASE}/sesiones/end", ok, methods=["POST"]),
            Route("/auth/register", ok, methods=["POST"]),
            Route("/auth/login", ok, methods=["POST"]),
        ]
    )
