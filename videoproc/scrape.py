"""/metrics: the counts of this machine's processes (videoproc/metrics.py) and what the
database knows (jobs by status and kind, queue depth, stuck jobs), read at scrape time so
every web process answers the same."""

import os

from django.db.models import Count
from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from jobs.kinds import KINDS
from jobs.models import Job
from jobs.services import job_queue_name

from .metrics import process_registry


class JobsCollector(Collector):
    """Job counts read from the database when scraped."""

    def describe(self):
        # What it yields, without a query: registering it must not touch the database.
        yield GaugeMetricFamily("videoproc_jobs", "", labels=["status", "kind"])
        yield GaugeMetricFamily("videoproc_queue_depth", "", labels=["queue"])
        yield GaugeMetricFamily("videoproc_jobs_stuck_queued", "")

    def collect(self):
        jobs = GaugeMetricFamily(
            "videoproc_jobs", "Jobs by status and kind", labels=["status", "kind"]
        )
        counts = {
            (row["status"], row["kind"]): row["count"]
            for row in Job.objects.values("status", "kind").annotate(count=Count("id"))
        }
        for status in Job.Status.values:
            for kind in KINDS:
                jobs.add_metric([status, kind], counts.get((status, kind), 0))
        yield jobs

        depth = GaugeMetricFamily(
            "videoproc_queue_depth",
            "Jobs sent to each worker queue and not started yet",
            labels=["queue"],
        )
        queued = {job_queue_name(kind): 0 for kind in KINDS}
        for kind in KINDS:
            queued[job_queue_name(kind)] += counts.get((Job.Status.QUEUED, kind), 0)
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


def metrics_view(request) -> HttpResponse:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = process_registry()
        registry.register(_jobs)
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
