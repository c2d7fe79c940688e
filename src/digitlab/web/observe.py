"""Every request timed once, and the result handed to the metrics and the request log.

A plain ASGI middleware (no per-request task or body copy, unlike Starlette's
BaseHTTPMiddleware). The route is the matched template (`/api/predict`), never the
raw path, so a client cannot grow the metrics' label sets. A handler that read an
image leaves `request.state.reading` ({"digits", "rejected"}) for the log line.
"""

from __future__ import annotations

import time

from .access_log import log_request
from .metrics import ServiceMetrics


def route_of(scope: dict) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class ObserveRequests:
    def __init__(self, app, metrics: ServiceMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 500  # what the client gets when the app raises before it answers

        async def send_and_note(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            seconds = time.perf_counter() - start
            route, reading = route_of(scope), scope.get("state", {}).get("reading")
            self.metrics.observe(route, scope["method"], status, seconds, reading)
            fields = {"method": scope["method"], "route": route, "path": scope["path"], "status": status,
                      "ms": round(seconds * 1000, 2)}
            log_request(fields if reading is None else {**fields, **reading})
