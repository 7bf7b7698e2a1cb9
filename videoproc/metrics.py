"""Prometheus metrics (prometheus-client), served at /metrics.

What the database knows (jobs by status and kind, queue depth, stuck jobs) is read from
it at scrape time, so every web process answers the same. What happens inside a process
(time queued, job duration, FFmpeg failures, upload bytes) is counted where it happens;
with PROMETHEUS_MULTIPROC_DIR set (`make run` sets it) the counts of all gunicorn workers
on a machine are added up, and a Celery worker serves its own on WORKER_METRICS_PORT.
"""

import os

from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Seconds, from a quick trim to a long encode.
_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600)

JOB_QUEUED_SECONDS = Histogram(
    "videoproc_job_queued_seconds",
    "Time from being sent to a worker queue to being started by a worker",
    ["kind"],
    buckets=_BUCKETS,
)
JOB_DURATION_SECONDS = Histogram(
    "videoproc_job_duration_seconds",
    "Time one attempt of a job ran, by how it ended",
    ["kind", "status"],
    buckets=_BUCKETS,
)
FFMPEG_FAILURES = Counter(
    "videoproc_ffmpeg_failures", "Job attempts that failed in FFmpeg or ffprobe", ["kind"]
)
UPLOAD_BYTES = Counter("videoproc_upload_bytes", "Bytes of videos uploaded and stored")


class JobsCollector(Collector):
    """Job counts read from the database when scraped."""

    def describe(self):
        # What it yields, without a query: registering it must not touch the database.
        yield GaugeMetricFamily("videoproc_jobs", "", labels=["status", "kind"])
        yield GaugeMetricFamily("videoproc_queue_depth", "", labels=["queue"])
        yield GaugeMetricFamily("videoproc_jobs_stuck_queued", "")

    def collect(self):
        from jobs.models import Job  # the apps are loaded by the time anyone scrapes

        jobs = GaugeMetricFamily(
            "videoproc_jobs", "Jobs by status and kind", labels=["status", "kind"]
        )
        counts = {
            (row["status"], row["kind"]): row["count"]
            for row in Job.objects.values("status", "kind").annotate(count=Count("id"))
        }
        for status in Job.Status.values:
            for kind in Job.Kind.values:
                jobs.add_metric([status, kind], counts.get((status, kind), 0))
        yield jobs

        depth = GaugeMetricFamily(
            "videoproc_queue_depth",
            "Jobs sent to each worker queue and not started yet",
            labels=["queue"],
        )
        queued = {queue: 0 for queue in settings.JOB_QUEUES.values()}
        for kind, queue in settings.JOB_QUEUES.items():
            queued[queue] += counts.get((Job.Status.QUEUED, kind), 0)
        for queue, count in queued.items():
            depth.add_metric([queue], count)
        yield depth

        yield GaugeMetricFamily(
            "videoproc_jobs_stuck_queued",
            "Queued jobs no worker started within JOB_QUEUED_LIMIT seconds",
            value=Job.objects.filter(status=Job.Status.QUEUED, error__isnull=False).count(),
        )


_jobs = JobsCollector()
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    REGISTRY.register(_jobs)


def process_registry() -> CollectorRegistry:
    """The counts of every process on this machine (PROMETHEUS_MULTIPROC_DIR)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def metrics_view(request) -> HttpResponse:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = process_registry()
        registry.register(_jobs)
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
