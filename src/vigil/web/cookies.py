"""Browser sessions: a signed, HttpOnly session cookie plus a CSRF token.

The session cookie (HttpOnly, SameSite=Lax, Secure over https) carries a signed token whose
`typ` differs from a bearer token's, so neither passes for the other. The CSRF token is
bound into that signed token and also set as a readable cookie; a state-changing request
authenticated by the cookie must echo it in `X-CSRF-Token`. A bearer token is never sent
by a browser on its own, so bearer requests need no CSRF token.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Response

from vigil.core.errors import PermissionDenied, Unauthenticated
from vigil.core.identity import service as identity
from vigil.core.identity.models import User
from vigil.settings import Settings
from vigil.web.deps import BearerToken, SettingsDep, runtime_of

SESSION_COOKIE = "vigil_session"
CSRF_COOKIE = "vigil_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def set_session_cookies(
    request: Request, response: Response, settings: Settings, user: User
) -> tuple[str, int]:
    """Sign the user in on this browser; the CSRF token and the session's lifetime."""
    issued, csrf = identity.issue_cookie_session(
        settings.signing_key, user, settings.token_ttl_seconds
    )
    secure = request.url.scheme == "https"
    max_age = settings.token_ttl_seconds
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=max_age, path="/", httponly=False, samesite="lax", secure=secure
    )
    return csrf, max_age


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


async def browser_or_bearer_user(
    request: Request, settings: SettingsDep, token: BearerToken
) -> User:
    """The caller, by bearer token or by session cookie (with the CSRF check on writes)."""
    runtime = runtime_of(request)
    if token:
        return await runtime.callers.user_from_token(runtime.reader, settings.signing_key, token)
    async with runtime.reader() as reader:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise Unauthenticated("not signed in: send a bearer token or the session cookie")
        user, csrf = await identity.user_from_cookie_session(reader, settings.signing_key, cookie)
    if request.method not in SAFE_METHODS:
        echoed = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(echoed.encode(), csrf.encode()):
            raise PermissionDenied(
                f"missing or wrong {CSRF_HEADER} header (echo the {CSRF_COOKIE} cookie)",
                field=CSRF_HEADER,
            )
    return user


BrowserUser = Annotated[User, Depends(browser_or_bearer_user)]
