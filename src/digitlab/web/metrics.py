"""Prometheus metrics of the service, served at GET /metrics.

One `ServiceMetrics` per app, on its own registry, so two apps in one process
(tests) do not share counts. With several worker processes each worker counts in
its own process, and a scrape lands on one of them; prometheus-client's
multiprocess mode fixes that: when PROMETHEUS_MULTIPROC_DIR is set (`digitlab
serve --workers N` creates one and removes it at exit), every worker writes its
values to files there and /metrics sums all workers', so one scrape of the service
sees the whole service.
"""

from __future__ import annotations

import os

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# from a warm 28x28 digit (a few ms) to the largest image the limits allow (seconds)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ServiceMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        r = self.registry
        self.requests = Counter("digitlab_http_requests", "HTTP requests answered, by route, method and status",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("digitlab_http_request_duration_seconds", "Time to answer a request, by route",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.readings = Counter("digitlab_readings", "Images read by POST /api/predict", registry=r)
        self.digits = Counter("digitlab_digits_read", "Digits found in the images read", registry=r)
        self.rejections = Counter("digitlab_rejections", "Readings flagged as not a digit (or no ink)", registry=r)
        self.swaps = Counter("digitlab_model_swaps", "New checkpoints of a served model, swapped in or refused "
                             "(live.py)", ["outcome"], registry=r)
        # the slowest worker's load: the figure that says how long a restart leaves the service short
        self.load_seconds = Gauge("digitlab_model_load_seconds", "Seconds to load and warm the model",
                                  multiprocess_mode="max", registry=r)

    def observe(self, route: str, method: str, status: int, seconds: float, reading: dict | None) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)
        if reading is not None:
            self.readings.inc()
            self.digits.inc(reading["digits"])
            if reading["rejected"]:
                self.rejections.inc()

    def exposition(self) -> bytes:
        if self.multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


def metrics_router(metrics: ServiceMetrics) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/metrics", summary="Prometheus metrics of the service (all workers)", response_class=Response,
                responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                                 "description": "the Prometheus text format"}})
    async def scrape() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
