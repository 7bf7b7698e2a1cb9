"""Prometheus metrics (prometheus-client), served at /metrics (videoproc/scrape.py).

What happens inside a process
(time queued, job duration, FFmpeg failures, upload bytes) is counted where it happens;
with PROMETHEUS_MULTIPROC_DIR set (`make run` sets it) the counts of all gunicorn workers
on a machine are added up, and a Celery worker serves its own on WORKER_METRICS_PORT.
"""

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
)

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


def process_registry() -> CollectorRegistry:
    """The counts of every process on this machine (PROMETHEUS_MULTIPROC_DIR)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry
