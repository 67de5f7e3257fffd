"""/healthz, Prometheus /metrics, and a per-request log line with ids and sizes only."""

from __future__ import annotations

import logging
import time

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.web.deps import runtime_of

log = structlog.get_logger("vigil.http")

REQUESTS = Counter(
    "vigil_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "vigil_http_request_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

router = APIRouter(tags=["Operations"])


@router.get("/healthz", responses={503: {"description": "The database does not answer"}})
async def healthz(request: Request) -> JSONResponse:
    try:
        async with runtime_of(request).read_engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:
        log.warning("health check: database unreachable")
        return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "up"})


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class RequestMetrics:
    """Pure ASGI middleware (no BaseHTTPMiddleware: it buffers and costs per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            REQUESTS.labels(scope["method"], template, str(status)).inc()
            LATENCY.labels(scope["method"], template).observe(elapsed)
            # The route template, never the URL: query strings may carry names or ids.
            log.log(
                logging.WARNING if status >= 500 else logging.INFO,
                "request",
                method=scope["method"],
                route=template,
                status=status,
                ms=round(elapsed * 1000, 1),
            )


def install_observability(app: FastAPI) -> None:
    app.include_router(router)
    app.add_middleware(RequestMetrics)
