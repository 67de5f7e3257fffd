"""Typed dependencies: the database session (the edge owns the transaction) and the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.core.errors import Conflict, Unauthenticated
from vigil.core.identity import service as identity
from vigil.core.identity.models import User
from vigil.runtime import Runtime
from vigil.settings import Settings
from vigil.storage import views

bearer_scheme = OAuth2PasswordBearer(tokenUrl="/auth/login", auto_error=False)


# `async def` on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread
# hop per request for what is an attribute read.
async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


async def get_settings(request: Request) -> Settings:
    return runtime_of(request).settings


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response leaves (scope=function)."""
    async with views.unit_of_work(runtime_of(request).sessionmaker) as db:
        yield db


DbSession = Annotated[AsyncSession, Depends(db_session, scope="function")]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
BearerToken = Annotated[str | None, Depends(bearer_scheme)]


async def optional_user(request: Request, settings: SettingsDep, token: BearerToken) -> User | None:
    """Who is calling: a bearer token, or `Remote-User` from a trusted proxy; else None.

    The caller is read outside the request's transaction, so that a client still sending
    its body never holds the (SQLite) write lock just for having signed in, and a request
    that needs no transaction (an upload) opens none. A forwarded user seen for the first
    time is provisioned in a transaction of its own.
    """
    runtime = runtime_of(request)
    if token:
        return await runtime.callers.user_from_token(runtime.reader, settings.signing_key, token)
    remote_user = request.headers.get("remote-user")
    client_host = request.client.host if request.client else None
    if remote_user and settings.is_trusted_proxy(client_host):
        async with views.unit_of_work(runtime.sessionmaker) as db:
            return await _forwarded_user(request, db, settings, remote_user.strip())
    return None


async def _forwarded_user(
    request: Request, db: AsyncSession, settings: Settings, login: str
) -> User:
    user = await identity.user_by_login(db, login)
    if user is None and settings.forward_auth_autocreate:
        groups = [g.strip() for g in request.headers.get("remote-groups", "").split(",")]
        role = identity.role_from_groups(groups, settings.forward_auth_group_roles)
        email = request.headers.get("remote-email")
        try:
            user = await identity.provision_forwarded_user(db, login, email, role)
        except Conflict:  # provisioned by a concurrent request a moment ago
            user = await identity.user_by_login(db, login)
    if user is None or user.disabled:
        raise Unauthenticated("the forwarded user is not known to Vigil")
    return user


async def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise Unauthenticated("not authenticated: send a bearer token")
    return user


async def caller(request: Request) -> User:
    """`CurrentUser`, for an endpoint that solves no dependencies (SUSIE's uploads)."""
    token = await bearer_scheme(request)
    return await current_user(await optional_user(request, runtime_of(request).settings, token))


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]
