"""The Celery app: workers run `celery -A videoproc worker`; settings are the CELERY_* ones."""

import os

from celery import Celery
from celery.signals import setup_logging, worker_init
from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "videoproc.settings")

app = Celery("videoproc")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_django_logging(**kwargs) -> None:
    """Workers log as the web processes do (LOGGING in settings: LOG_LEVEL, the job on
    every line), whatever `--loglevel` says, instead of Celery's own set-up."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@worker_init.connect
def serve_metrics(**kwargs) -> None:
    """With WORKER_METRICS_PORT, serve the Prometheus counts of this worker's pool
    processes (time queued, job duration, FFmpeg failures) for scraping."""
    port = os.environ.get("WORKER_METRICS_PORT")
    if not port:
        return
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        raise ImproperlyConfigured(
            "WORKER_METRICS_PORT needs PROMETHEUS_MULTIPROC_DIR: the jobs run in pool "
            "processes, whose counts meet there"
        )
    from prometheus_client import start_http_server

    from videoproc.metrics import process_registry

    start_http_server(int(port), registry=process_registry())
