"""What operators look at: Prometheus metrics that follow the jobs, and the health
endpoint (real gunicorn, PostgreSQL and Redis for the unhealthy cases)."""

import json
import os
import urllib.request
from urllib.parse import urlsplit

import psycopg
import pytest
from django.core.files.storage import default_storage
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from conftest import upload
from jobs.models import Job
from jobs.tests.integration import free_port, wait_for
from videos.models import Video

HEARTBEAT = {"JOB_HEARTBEAT_INTERVAL": "1", "JOB_HEARTBEAT_TIMEOUT": "3"}


def scrape(text: str) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} of a /metrics page."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def queue_trim(api, video_id: int) -> int:
    response = api.post(
        "/video/process/trim",
        {"request_code": "user", "video_id": video_id, "trim_start": 0, "trim_end": 500},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()["job_id"]


@pytest.mark.django_db
def test_metrics_follow_uploads_and_jobs(api, clip, settings):
    # given
    settings.CELERY_BROKER_URL = ""
    before = scrape(api.get("/metrics").content.decode())
    video = upload(api, clip).json()[0]
    queue_trim(api, video["id"])
    broken = Video.objects.get(pk=upload(api, clip).json()[0]["id"])
    queue_trim(api, broken.id)
    default_storage.delete(broken.file.name)  # its trim will fail in FFmpeg
    queued = scrape(api.get("/metrics").content.decode())
    # when
    api.post("/video/process/execute", {"request_code": "user"}, format="json")
    after = scrape(api.get("/metrics").content.decode())
    Job.objects.create(
        request_code="other",
        kind="encode",
        params={},
        status=Job.Status.QUEUED,
        error="no worker has started it",
    )
    stuck = scrape(api.get("/metrics").content.decode())
    # then
    grown = metric(queued, "videoproc_upload_bytes_total") - metric(
        before, "videoproc_upload_bytes_total"
    )
    assert grown == 2 * clip.stat().st_size
    assert metric(queued, "videoproc_jobs", status="pending", kind="trim") == 2
    assert metric(after, "videoproc_jobs", status="pending", kind="trim") == 0
    assert metric(after, "videoproc_jobs", status="succeeded", kind="trim") == 1
    assert metric(after, "videoproc_jobs", status="failed", kind="trim") == 1
    for status in ("succeeded", "failed"):
        name, labels = "videoproc_job_duration_seconds_count", {"kind": "trim", "status": status}
        assert metric(after, name, **labels) - metric(before, name, **labels) == 1
    name = "videoproc_ffmpeg_failures_total"
    assert metric(after, name, kind="trim") - metric(before, name, kind="trim") == 1
    assert metric(after, "videoproc_queue_depth", queue="celery") == 0
    assert metric(stuck, "videoproc_queue_depth", queue="celery") == 1
    assert metric(stuck, "videoproc_jobs_stuck_queued") == 1


@pytest.mark.django_db
def test_health_names_what_is_wrong(api, settings):
    # given a process whose job recovery is not running (the test process's is not)
    settings.CELERY_BROKER_URL = ""
    # when
    response = api.get("/health?format=json")
    # then
    assert response.status_code == 500
    checks = response.json()
    assert checks["Recovery()"] == "Unavailable: job recovery has not run lately in this process"
    assert checks["Database(alias='default')"] == "OK"
    assert checks["FFmpeg()"] == "OK"


def as_admin(*statements: str) -> None:
    """Run statements from the maintenance database (a database cannot lock itself out)."""
    url = urlsplit(os.environ["DATABASE_URL"])._replace(path="/postgres").geturl()
    with psycopg.connect(url, autocommit=True) as admin:
        for statement in statements:
            admin.execute(statement)


def health(web) -> tuple[int, dict]:
    status, body = web.request("GET", "/health?format=json", timeout=30)
    return status, json.loads(body)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_health_turns_unhealthy_when_the_broker_or_the_database_is_gone(start_web):
    # given a server with all it needs
    web = start_web(**HEARTBEAT)
    status, checks = wait_for(
        lambda: (answer := health(web))[0] == 200 and answer, timeout=15, what="a healthy server"
    )
    assert set(checks.values()) == {"OK"} and len(checks) == 5, checks
    # when its broker is gone
    dead_broker = start_web(CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0", **HEARTBEAT)
    # then
    status, checks = health(dead_broker)
    assert status == 500
    assert [name for name, state in checks.items() if state != "OK"] == [
        next(name for name in checks if name.startswith("Redis"))
    ], checks
    # when the database refuses it
    database = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:  # this test's own connection stays
        cursor.execute("SELECT pg_backend_pid()")
        (ours,) = cursor.fetchone()
    as_admin(
        f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false',
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{database}' AND pid NOT IN (pg_backend_pid(), {ours})",
    )
    try:
        status, checks = health(web)
    finally:
        as_admin(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    # then
    assert status == 500
    assert checks["Database(alias='default')"] != "OK", checks
    # and it is healthy again once the database is back
    wait_for(lambda: health(web)[0] == 200, timeout=15, what="the server to recover")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_metrics_of_all_gunicorn_workers_add_up(api, uploaded, start_web, tmp_path):
    # given two gunicorn workers sharing a metrics directory, in the embedded mode
    folder = tmp_path / "metrics"
    folder.mkdir()
    web = start_web(workers=2, CELERY_BROKER_URL="", PROMETHEUS_MULTIPROC_DIR=str(folder))
    queue_trim(api, uploaded["id"])
    # when one of them runs a job
    status, answer = web.request("POST", "/video/process/execute", {"request_code": "user"})
    assert status == 200, answer
    # then every scrape, whichever worker answers it, counts it once
    for _ in range(6):
        status, text = web.request("GET", "/metrics")
        samples = scrape(text.decode())
        name = "videoproc_job_duration_seconds_count"
        assert metric(samples, name, kind="trim", status="succeeded") == 1
        assert metric(samples, "videoproc_jobs", status="succeeded", kind="trim") == 1


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_worker_serves_the_metrics_of_the_jobs_it_ran(api, uploaded, start_worker, tmp_path):
    # given a worker serving its metrics
    folder = tmp_path / "worker-metrics"
    folder.mkdir()
    port = free_port()
    start_worker("a", PROMETHEUS_MULTIPROC_DIR=str(folder), WORKER_METRICS_PORT=str(port))
    queue_trim(api, uploaded["id"])
    # when it runs a job
    response = api.post("/video/process/execute", {"request_code": "user"}, format="json")
    assert response.status_code == 200, response.content
    # then its pool process's counts are served by the worker
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        samples = scrape(answer.read().decode())
    name = "videoproc_job_duration_seconds_count"
    assert metric(samples, name, kind="trim", status="succeeded") == 1
    assert metric(samples, "videoproc_job_queued_seconds_count", kind="trim") == 1
