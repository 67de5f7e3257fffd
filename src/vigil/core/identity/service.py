"""Identity rules: creating users, signing in, resolving a caller to a user."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import cast

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.core.errors import Conflict, InvalidInput, PermissionDenied, Unauthenticated
from vigil.core.identity.models import Role, User
from vigil.core.identity.passwords import hash_password, verify_password
from vigil.core.identity.tokens import (
    COOKIE_SESSION,
    USER_TOKEN,
    IssuedToken,
    decode_token,
    issue_token,
)

MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class NewUser:
    login: str
    password: str | None
    role: Role
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    external_id: str | None = None


async def create_user(db: AsyncSession, new: NewUser) -> User:
    login = new.login.strip()
    if not login:
        raise InvalidInput("login must not be empty", field="login")
    if new.password is not None and len(new.password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    email = new.email.strip().lower() if new.email else None
    same_login = User.login == login
    taken = await db.scalar(
        select(User.id).where(or_(same_login, User.email == email) if email else same_login)
    )
    if taken is not None:
        raise Conflict("a user with this login or email already exists", field="login")
    user = User(
        login=login,
        email=email,
        password_hash=await asyncio.to_thread(hash_password, new.password)
        if new.password is not None
        else None,
        role=new.role,
        first_name=new.first_name,
        last_name=new.last_name,
        external_id=new.external_id,
    )
    db.add(user)
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError as exc:  # a concurrent request took the login first
        raise Conflict("a user with this login or email already exists", field="login") from exc
    return user


async def authenticate(db: AsyncSession, login_or_email: str, password: str) -> User:
    """The user these credentials prove, or Unauthenticated; same cost either way."""
    key = login_or_email.strip()
    user = await db.scalar(select(User).where(or_(User.login == key, User.email == key.lower())))
    # argon2 is deliberately slow (~0.1 s here): off the event loop, or a burst of sign-ins
    # at the start of an exam would stall every other request.
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
    if user is None or not ok or user.disabled:
        raise Unauthenticated("incorrect login or password")
    return user


def issue_user_token(secret: str, user: User, ttl_seconds: int) -> IssuedToken:
    return issue_token(
        secret,
        subject=str(user.id),
        token_type=USER_TOKEN,
        ttl_seconds=ttl_seconds,
        role=user.role.value,
    )


async def user_from_token(db: AsyncSession, secret: str, token: str) -> User:
    user, _expires_at = await user_and_expiry_from_token(db, secret, token)
    return user


async def user_and_expiry_from_token(
    db: AsyncSession, secret: str, token: str
) -> tuple[User, float]:
    """The token's user and the token's expiry (unix seconds)."""
    claims = decode_token(secret, token, token_type=USER_TOKEN)
    user = await db.get(User, subject_of(claims))
    if user is None or user.disabled:
        raise Unauthenticated("token's user no longer exists or is disabled")
    return user, float(cast(float, claims["exp"]))  # required and checked by decode_token


def issue_cookie_session(secret: str, user: User, ttl_seconds: int) -> tuple[IssuedToken, str]:
    """A browser session: the signed cookie value, and the CSRF token bound into it."""
    csrf = secrets.token_urlsafe(24)
    issued = issue_token(
        secret,
        subject=str(user.id),
        token_type=COOKIE_SESSION,
        ttl_seconds=ttl_seconds,
        csrf=csrf,
    )
    return issued, csrf


async def user_from_cookie_session(db: AsyncSession, secret: str, token: str) -> tuple[User, str]:
    """The session cookie's user and the CSRF token every state-changing request echoes."""
    claims = decode_token(secret, token, token_type=COOKIE_SESSION)
    csrf = claims.get("csrf")
    user = await db.get(User, subject_of(claims))
    if not isinstance(csrf, str) or user is None or user.disabled:
        raise Unauthenticated("the session's user no longer exists or is disabled")
    return user, csrf


async def user_by_login(db: AsyncSession, login: str) -> User | None:
    return await db.scalar(select(User).where(User.login == login))


ROLE_RANK = {Role.STUDENT: 0, Role.TEACHER: 1, Role.ADMIN: 2}


def role_from_groups(groups: list[str], group_roles: dict[str, str]) -> Role:
    """The most privileged role any of the forwarded groups maps to; student otherwise."""
    roles = [Role(group_roles[g]) for g in groups if g in group_roles]
    return max(roles, key=ROLE_RANK.__getitem__, default=Role.STUDENT)


async def provision_forwarded_user(
    db: AsyncSession, login: str, email: str | None, role: Role
) -> User:
    """First sight of a user the trusted proxy vouches for: an account with no password."""
    if email and await db.scalar(select(User.id).where(User.email == email.lower())):
        email = None  # the address belongs to another account: keep the login only
    return await create_user(db, NewUser(login=login, password=None, role=role, email=email))


async def has_admin(db: AsyncSession) -> bool:
    count = await db.scalar(
        select(func.count()).select_from(User).where(User.role == Role.ADMIN, ~User.disabled)
    )
    return bool(count)


async def create_first_admin(db: AsyncSession, login: str = "admin") -> tuple[User, str] | None:
    """Create an admin with a random password when there is none; None if one exists."""
    if await has_admin(db):
        return None
    password = secrets.token_urlsafe(15)
    user = await create_user(db, NewUser(login=login, password=password, role=Role.ADMIN))
    return user, password


def require_role(user: User, *roles: Role) -> None:
    if user.role not in roles:
        allowed = " or ".join(r.value for r in roles)
        raise PermissionDenied(f"this needs the {allowed} role")


def subject_of(claims: dict[str, object]) -> int:
    try:
        return int(str(claims["sub"]))
    except (KeyError, ValueError) as exc:
        raise Unauthenticated("token is invalid") from exc
