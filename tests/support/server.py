"""A real uvicorn server on a free loopback port, in a background thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from tests.support.s3 import free_port
from vigil.app import create_app
from vigil.core.identity import service as identity
from vigil.core.identity.models import Role
from vigil.runtime import Runtime
from vigil.settings import Settings


@contextmanager
def live_server(settings: Settings) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def seed_users(settings: Settings, users: list[tuple[str, Role]], password: str) -> None:
    """Create accounts straight through the core, before a live server starts."""

    async def run() -> None:
        runtime = await Runtime.open(settings)
        try:
            async with runtime.sessionmaker.begin() as db:
                for login, role in users:
                    new = identity.NewUser(login=login, email=login, password=password, role=role)
                    await identity.create_user(db, new)
        finally:
            await runtime.close()

    asyncio.run(run())
