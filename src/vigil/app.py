"""create_app(settings): builds the core's runtime and mounts every surface."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from vigil import __version__
from vigil.analysis.actors import start_embedded_workers
from vigil.analysis.detectors import stop_processes as stop_analysis_processes
from vigil.core.attempts.jobs import sweep_forever
from vigil.core.tasks.jobs import LabJobs, timings_from
from vigil.labs.driver import driver_from_settings
from vigil.logging import configure_logging
from vigil.runtime import Runtime
from vigil.settings import Settings
from vigil.storage.views import drain as drain_files
from vigil.surfaces.attempts.errors import AttemptsRoute
from vigil.surfaces.attempts.router import PREFIXES as ATTEMPTS_PREFIXES
from vigil.surfaces.attempts.router import router as attempts_router
from vigil.surfaces.exammanager.errors import ExamManagerRoute
from vigil.surfaces.exammanager.labs import router as exammanager_labs_router
from vigil.surfaces.exammanager.router import PREFIXES as EXAMMANAGER_PREFIXES
from vigil.surfaces.exammanager.router import router as exammanager_router
from vigil.surfaces.proctorbe.router import router as proctorbe_router
from vigil.surfaces.spark.errors import SparkRoute
from vigil.surfaces.spark.review import router as spark_review_router
from vigil.surfaces.spark.router import router as spark_router
from vigil.surfaces.susie.errors import SusieRoute
from vigil.surfaces.susie.router import direct_routes as susie_direct_routes
from vigil.surfaces.susie.router import router as susie_router
from vigil.web.direct import DirectRoutes
from vigil.web.docs import install_offline_docs
from vigil.web.errors import claim_prefix, install_error_handlers
from vigil.web.observability import install_observability


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await Runtime.open(settings)
        app.state.runtime = runtime
        # Everything loaded so far lives as long as the process: keep it out of the
        # garbage collector's full passes, which otherwise show up as tail latency.
        gc.collect()
        gc.freeze()
        requeue = start_embedded_workers(runtime)
        sweeper = asyncio.create_task(
            sweep_forever(runtime.sessionmaker, settings.data_dir, settings.attempt_sweep_seconds)
        )
        lab_jobs = LabJobs(
            runtime.sessionmaker,
            driver_from_settings(settings),
            settings.signing_key,
            timings_from(settings),
        )
        app.state.lab_jobs = lab_jobs
        lab_poller = asyncio.create_task(lab_jobs.run_forever())
        try:
            yield
        finally:
            for task in (sweeper, requeue, lab_poller):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await lab_jobs.close()
            await drain_files()
            await runtime.close()
            stop_analysis_processes()

    app = FastAPI(
        title="Vigil",
        version=__version__,
        description="Self-hosted proctoring backend: five client contracts over one core.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry (spans, metrics, exception logs with their messages,
        # OTLP exporters from the environment) stays off: nothing about a request leaves
        # the box, and its per-request provider check cost 1.4% of the event loop at an
        # exam's peak. Vigil's metrics are its own (/metrics, docs/deploy.md).
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
    )
    install_error_handlers(app)
    claim_prefix("/api/v1", SparkRoute)
    claim_prefix("/susie", SusieRoute)
    for prefix in ATTEMPTS_PREFIXES:
        claim_prefix(prefix, AttemptsRoute)
    for prefix in EXAMMANAGER_PREFIXES:
        claim_prefix(prefix, ExamManagerRoute)
    install_offline_docs(app)
    # Inside the metrics and CORS middleware (added after it), so those still see them.
    app.add_middleware(DirectRoutes, routes=susie_direct_routes())
    install_observability(app)
    # Requests are matched against the routers in this order: the evidence uploads, the
    # most frequent requests by far, are matched first.
    app.include_router(susie_router)
    app.include_router(spark_router)
    app.include_router(proctorbe_router)
    app.include_router(spark_review_router)
    app.include_router(attempts_router)
    app.include_router(exammanager_router)
    app.include_router(exammanager_labs_router)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    return app
