"""The database engine, the ORM base class and the session factory."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import DateTime, Enum, MetaData, event, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from vigil.storage import sqlite_inloop

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Integer primary keys are 32-bit on PostgreSQL; ids beyond this cannot exist anywhere.
MAX_ROW_ID = 2**31 - 1


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


Model = TypeVar("Model", bound=Base)


def bare_instance(model: type[Model], values: Iterable[tuple[str, Any]]) -> Model:
    """A new, transient instance holding `values`, made as loading a row makes one: without
    __init__, whose instrumented attribute sets cost ten times as much on the hot paths
    (callers, evidence intake, a SUSIE session start). Nothing is marked changed. The
    mappers must be configured already (`Runtime.open` does it)."""
    instance: Model = model.__mapper__.class_manager.new_instance()
    instance.__dict__.update(values)
    return instance


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(enum_class: type[StrEnum], length: int = 16) -> Enum:
    """A StrEnum column stored as its plain value, read back as the enum member."""
    return Enum(
        enum_class,
        native_enum=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_engine(
    url: str, *, sqlite_synchronous: str = "FULL", read_only: bool = False
) -> AsyncEngine:
    """The writer engine, or with `read_only` the one for single-statement reads.

    On SQLite the writer is one connection: writers queue in-process, first come first
    served, instead of in SQLite's busy handler (which sleeps and backs off, so a queue of
    pooled connections there turns into seconds of tail latency). Reads that need not sit
    inside the request's transaction (who is calling) use their own pool: in WAL mode they
    neither wait for the writer nor hold it up.
    """
    if url.startswith("sqlite"):
        pool = (
            {"pool_size": 4, "max_overflow": 4}
            if read_only
            else {"pool_size": 1, "max_overflow": 0}
        )
        pragmas = [
            "PRAGMA journal_mode=WAL",
            f"PRAGMA synchronous={sqlite_synchronous}",
            "PRAGMA foreign_keys=ON",
        ]
        engine = create_async_engine(
            url,
            async_creator=sqlite_inloop.connector(
                _sqlite_path(url), pragmas, busy_timeout_ms=30_000, writer=not read_only
            ),
            hide_parameters=True,
            pool_timeout=60,
            **pool,
        )
        if not read_only:
            _begin_immediately(engine)
        return engine
    return create_async_engine(
        url, pool_size=10, max_overflow=20, pool_pre_ping=True, hide_parameters=True
    )


def _sqlite_path(url: str) -> str:
    path = make_url(url).database
    if not path or path == ":memory:":
        raise ValueError("Vigil keeps its SQLite database in a file: give a path")
    return path


def _begin_immediately(engine: AsyncEngine) -> None:
    """Reads run in autocommit (each SELECT its own snapshot, no BEGIN round trip); the
    writer opens its transactions with BEGIN IMMEDIATE."""

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes fails at once with
        # SQLITE_BUSY when another writer (another process) committed in between; the
        # writer takes the lock up front so that it waits on busy_timeout instead.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
