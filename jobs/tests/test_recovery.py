"""Nothing stuck or lost: jobs whose process is SIGKILLed are recovered by the web
processes (real gunicorn) within the heartbeat timeout, in the embedded mode and with
Celery workers busy on a long queue; a cancel of an orphan sticks; an execute that waits
is bounded; a job no worker takes is reported."""

import contextlib
import socket
import threading
import time

import pytest
import redis

from jobs import services
from jobs.models import Job
from jobs.tests.integration import LONG_TARGET, kill, parent_of, wait_for
from jobs.tests.test_scale import JOB_DEADLINE, execute, finished, queue_encode, running_ffmpeg
from videos.models import Video

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Short heartbeats, so that a dead process is noticed within seconds.
HEARTBEAT = {"JOB_HEARTBEAT_INTERVAL": "1", "JOB_HEARTBEAT_TIMEOUT": "3"}
RECOVERY_DEADLINE = 3 + 10  # the timeout plus the margin the issue allows


def status_of(job_id: int) -> str:
    return Job.objects.values_list("status", flat=True).get(pk=job_id)


def recovered_within(job_id: int, status: str) -> float:
    """Seconds until the job reaches status, failing past RECOVERY_DEADLINE."""
    killed = time.monotonic()
    wait_for(
        lambda: status_of(job_id) == status,
        timeout=RECOVERY_DEADLINE,
        what=f"job {job_id} to be {status}",
        interval=0.1,
    )
    return time.monotonic() - killed


def orphan_in_web_process(api, long_video, start_web):
    """An encode running inside an execute request on gunicorn, whose worker process is
    then SIGKILLed (its FFmpeg dies with it): (job id, the server)."""
    web = start_web(CELERY_BROKER_URL="", **HEARTBEAT)
    job_id = queue_encode(api, long_video["id"], LONG_TARGET)

    def doomed_execute():
        with contextlib.suppress(OSError):  # the process serving it is killed
            web.request(
                "POST", "/video/process/execute", {"request_code": "user"}, timeout=JOB_DEADLINE
            )

    threading.Thread(target=doomed_execute, daemon=True).start()
    ffmpeg, web_process = running_ffmpeg(api, job_id)
    assert parent_of(web_process) == web.process.pid  # a gunicorn worker runs it
    kill(web_process)
    wait_for(lambda: parent_of(ffmpeg) is None, timeout=5, what="FFmpeg to die with it")
    return job_id, web


def test_a_killed_web_process_s_job_is_pending_again_within_the_timeout(api, long_video, start_web):
    # given an execute running in a web process that is killed
    job_id, web = orphan_in_web_process(api, long_video, start_web)
    # when the web processes' recovery looks
    elapsed = recovered_within(job_id, Job.Status.PENDING)
    # then it is pending again, saying why, its progress reset; the next execute finishes it
    print(f"embedded mode: job {job_id} pending again {elapsed:.1f} s after the kill")
    given_back = api.get(f"/video/process/jobs/{job_id}").json()
    assert given_back["progress"] == 0
    assert given_back["error"].startswith("given back: the process it ran in (")
    assert " stopped at " in given_back["error"]
    status, answer = web.request(
        "POST", "/video/process/execute", {"request_code": "user"}, timeout=JOB_DEADLINE
    )
    assert status == 200, answer
    job = Job.objects.get(pk=job_id)
    assert job.status == Job.Status.SUCCEEDED and job.attempts == 2
    assert job.worker.startswith(f"{socket.gethostname()} pid ")
    tag = f"[job {job_id} encode request='user' attempt="
    assert f"{tag}1] its process stopped beating: pending now" in web.output()
    assert f"{tag}2] succeeded in " in web.output()
    assert Video.objects.filter(kind=Video.Kind.RESULT).count() == 1


def test_a_cancel_of_an_orphaned_job_sticks(api, long_video, start_web):
    # given a job whose web process was killed, cancelled before recovery noticed
    job_id, web = orphan_in_web_process(api, long_video, start_web)
    status, answer = web.request("POST", f"/video/process/jobs/{job_id}/cancel")
    assert status == 200, answer
    # when
    elapsed = recovered_within(job_id, Job.Status.CANCELLED)
    # then it stays cancelled: nothing to execute, nothing produced
    print(f"embedded mode: orphan {job_id} cancelled {elapsed:.1f} s after the kill")
    status, answer = web.request("POST", "/video/process/execute", {"request_code": "user"})
    assert status == 400, answer
    time.sleep(2)  # two more recovery passes
    assert status_of(job_id) == Job.Status.CANCELLED
    assert not Video.objects.filter(kind=Video.Kind.RESULT).exists()


def test_a_killed_worker_s_job_is_sent_again_while_another_worker_is_busy(
    api, long_video, start_web, start_worker
):
    # given a long encode (full HD: it outlasts what follows) on one worker, and the
    # other busy with a queue of encodes
    start_web(**HEARTBEAT)
    # (two slots: the two workers stand for two machines, each running one FFmpeg)
    workers = [start_worker(name, JOB_HEARTBEAT_INTERVAL="1", FFMPEG_MAX_RUNS="2") for name in "ab"]
    job_id = queue_encode(api, long_video["id"], "1920:1080")
    assert execute(api, wait=False).status_code == 202
    _, pool = running_ffmpeg(api, job_id)
    victim = next(w for w in workers if w.process.pid == parent_of(pool))
    survivor = next(w for w in workers if w is not victim)
    busy = [queue_encode(api, long_video["id"], LONG_TARGET, "busy") for _ in range(2)]
    assert execute(api, wait=False, request_code="busy").status_code == 202
    wait_for(
        lambda: status_of(busy[0]) == Job.Status.RUNNING,
        timeout=JOB_DEADLINE,
        what="worker b to be busy",
    )
    assert status_of(job_id) == Job.Status.RUNNING  # still on the victim
    # when the victim dies whole
    victim.kill()
    elapsed = recovered_within(job_id, Job.Status.QUEUED)
    # then the job was sent again while the survivor still had its queue, and it
    # finishes the job
    print(f"celery: job {job_id} sent again {elapsed:.1f} s after its worker was killed")
    assert Job.objects.filter(pk__in=busy, status__in=["queued", "running"]).exists()
    state = finished(api, job_id)
    assert state["status"] == "succeeded" and state["attempts"] == 2, state
    assert state["worker"].startswith(f"{survivor.name}@"), state
    # and each worker, at its default log level, named the job on its lines
    tag = f"[job {job_id} encode request='user' attempt="
    assert f"{tag}1] started on {victim.name}@" in victim.output()
    assert f"{tag}2] started on {survivor.name}@" in survivor.output()
    # (the worker logs the outcome just after it commits it: the API may say it first)
    wait_for(
        lambda: f"{tag}2] succeeded in " in survivor.output(),
        timeout=10,
        what="the survivor to log the job's success",
    )


def test_an_execute_that_waits_answers_202_at_its_limit_when_no_worker_serves_the_queue(
    api, uploaded, services_up, settings
):
    # given encodes go to a queue no worker serves
    settings.JOB_QUEUES = {**settings.JOB_QUEUES, "encode": "ops-test-nowhere"}
    settings.EXECUTE_WAIT_LIMIT = 2
    settings.JOB_QUEUED_LIMIT = 1
    job_id = queue_encode(api, uploaded["id"], "640:480")
    try:
        # when
        started = time.monotonic()
        response = execute(api, wait=True)
        waited = time.monotonic() - started
        # then
        assert response.status_code == 202, response.content
        assert response.json()["job_ids"] == [job_id]
        assert 2 <= waited < 10
        assert status_of(job_id) == Job.Status.QUEUED
        # and, past JOB_QUEUED_LIMIT, recovery says why it waits
        assert [job.id for job in services.jobs_report_stuck()] == [job_id]
        error = Job.objects.get(pk=job_id).error
        assert "queue 'ops-test-nowhere'" in error, error
    finally:
        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete("ops-test-nowhere")
