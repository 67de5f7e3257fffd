"""HS256 JWTs. `typ` tells user tokens from agent tokens, so one cannot pass for the other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from vigil.core.errors import Unauthenticated

ALGORITHM = "HS256"
USER_TOKEN = "user"
COOKIE_SESSION = "cookie-session"  # a browser session cookie: never a bearer token


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


def issue_token(
    secret: str, *, subject: str, token_type: str, ttl_seconds: int, **claims: object
) -> IssuedToken:
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=ttl_seconds)
    payload = {"sub": subject, "typ": token_type, "iat": now, "exp": expires_at, **claims}
    return IssuedToken(jwt.encode(payload, secret, algorithm=ALGORITHM), expires_at)


def decode_token(secret: str, token: str, *, token_type: str) -> dict[str, object]:
    try:
        claims: dict[str, object] = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp", "typ"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("token has expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated("token is invalid") from exc
    if claims.get("typ") != token_type:
        raise Unauthenticated("token is not valid here")
    return claims
