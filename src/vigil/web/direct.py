"""A short way in for the busiest requests.

Every SUSIE student sends an upload every few seconds; on the way to its endpoint each
request passes Starlette's exception middleware, FastAPI's two exit stacks and exception
wrapper, and a match against every route before it. `DirectRoutes` sits inside the
metrics and CORS middleware and hands a request whose method and path equal one of a few
bare routes (endpoints that take the Request and return the Response themselves) straight
to its endpoint; its errors become the same responses the app's exception handlers give.
Everything else, and any path spelled differently (a root path, a trailing slash), goes
the usual way, where the same routes are registered too (and documented in OpenAPI).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from vigil.web.errors import response_for_error

# An endpoint that takes the bare Request and returns its Response itself.
BareEndpoint = Callable[[Request], Coroutine[Any, Any, Response]]


class DirectRoutes:
    def __init__(self, app: ASGIApp, routes: Iterable[APIRoute]) -> None:
        self.app = app
        self.routes = {
            (method, route.path): route for route in routes for method in route.methods or ()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = None
        if scope["type"] == "http":
            route = self.routes.get((scope["method"], scope["path"]))
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route  # what the metrics, the log line and error rendering read
        scope["endpoint"] = route.endpoint
        request = Request(scope, receive, send)
        endpoint: BareEndpoint = route.endpoint
        try:
            response = await endpoint(request)
        except Exception as exc:
            response = await response_for_error(request, exc)
        await response(scope, receive, send)
