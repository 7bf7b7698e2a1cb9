"""Handing jobs to workers, taking them over from lost workers, and recovering them, at
the level of the Job rows (no broker or worker needed; test_scale.py runs real ones)."""

import uuid
from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone
from kombu.exceptions import OperationalError

from jobs import services, transitions, turns
from jobs.models import Job

pytestmark = pytest.mark.django_db


def dispatched_job(**fields) -> Job:
    """A job handed to a worker queue that no worker has started yet."""
    return Job.objects.create(
        request_code="user",
        kind="encode",
        params={},
        dispatch_token=uuid.uuid4(),
        **{"status": Job.Status.QUEUED, **fields},
    )


def running_job(**fields) -> Job:
    """A job a process started (and may since have died running)."""
    return dispatched_job(status=Job.Status.RUNNING, **fields)


def start(job: Job, token: str) -> Job | None:
    return transitions.job_start(job_id=job.id, dispatch_token=token, worker="a@host pid 1")


@pytest.fixture
def sent(monkeypatch, settings) -> list[tuple]:
    """A broker that records what is sent to it."""
    settings.CELERY_BROKER_URL = "redis://broker.invalid:6379/0"
    messages = []
    monkeypatch.setattr(
        current_app, "send_task", lambda name, args, queue: messages.append((*args, queue))
    )
    return messages


def test_execute_hands_pending_jobs_to_their_queues_after_commit(
    sent, settings, django_capture_on_commit_callbacks
):
    # given
    settings.JOB_QUEUES = {**settings.JOB_QUEUES, "encode": "big"}
    trim = Job.objects.create(request_code="user", kind="trim", params={})
    encode = Job.objects.create(request_code="user", kind="encode", params={})
    other = Job.objects.create(request_code="someone", kind="trim", params={})
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        jobs = services.jobs_execute(request_code="user", wait=False)
    assert sent == []  # nothing leaves before the claim is committed
    for callback in callbacks:
        callback()
    # then
    trim.refresh_from_db()
    assert [job.id for job in jobs] == [trim.id, encode.id]
    assert sent == [
        (trim.id, str(trim.dispatch_token), "celery"),
        (encode.id, str(trim.dispatch_token), "big"),
    ]
    assert trim.status == Job.Status.QUEUED and trim.queued_at is not None
    assert trim.started_at is None and trim.attempts == 0
    assert Job.objects.get(pk=other.pk).status == Job.Status.PENDING


def test_an_unreachable_broker_gives_the_jobs_back(
    monkeypatch, settings, django_capture_on_commit_callbacks
):
    # given
    settings.CELERY_BROKER_URL = "redis://broker.invalid:6379/0"

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(current_app, "send_task", refuse)
    job = Job.objects.create(request_code="user", kind="trim", params={})
    # when
    with pytest.raises(services.ServiceError) as refused:
        with django_capture_on_commit_callbacks(execute=True):
            services.jobs_execute(request_code="user", wait=False)
    # then
    assert refused.value.status_code == 503
    job.refresh_from_db()
    assert job.status == Job.Status.PENDING


def test_a_void_message_does_nothing():
    job = dispatched_job()
    assert start(job, str(uuid.uuid4())) is None
    job.refresh_from_db()
    assert job.attempts == 0 and job.started_at is None


def test_a_start_counts_an_attempt_and_a_redelivery_takes_over():
    # given
    job = dispatched_job()
    token = str(job.dispatch_token)
    # when
    first = start(job, token)
    again = start(job, token)  # its worker was lost
    # then
    assert first.attempts == 1 and first.started_at is not None
    assert first.worker == "a@host pid 1"
    assert again.attempts == 2
    assert Job.objects.get(pk=job.pk).status == Job.Status.RUNNING


def test_a_worker_never_takes_a_job_another_worker_started_from_the_line(monkeypatch):
    # given two jobs in line, the first read as the head by a worker just before another
    # worker started it
    first, second = dispatched_job(), dispatched_job()
    stale_head = Job.objects.get(pk=first.pk)
    start(first, str(first.dispatch_token))
    heads = iter([stale_head, Job.objects.get(pk=second.pk), None])
    monkeypatch.setattr(turns, "next_job", lambda queued: next(heads))

    # when the worker starts its head
    started = services._start_in_turn(
        job_id=second.id, dispatch_token=str(second.dispatch_token), worker="b@host pid 2"
    )

    # then it leaves the running job to its worker and takes the next one
    assert started.pk == second.pk
    running = Job.objects.get(pk=first.pk)
    assert (running.worker, running.attempts) == ("a@host pid 1", 1)


def test_a_job_that_keeps_losing_its_worker_ends_failed(settings):
    # given
    settings.JOB_MAX_ATTEMPTS = 2
    job = dispatched_job()
    token = str(job.dispatch_token)
    # when
    for _ in range(2):
        assert start(job, token) is not None
    third = start(job, token)
    # then
    assert third is None
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.error == "gave up after 2 attempts: the process running it was lost each time"


def test_a_job_cancelled_while_queued_never_starts(api):
    # given
    job = dispatched_job()
    # when
    response = api.post(f"/video/process/jobs/{job.id}/cancel")
    # then
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert start(job, str(job.dispatch_token)) is None


def test_recover_gives_back_silent_jobs_and_fails_exhausted_ones(settings):
    # given
    settings.CELERY_BROKER_URL = ""
    settings.JOB_MAX_ATTEMPTS = 2
    long_ago = timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT + 1)
    silent = running_job(attempts=1, started_at=long_ago, heartbeat_at=long_ago)
    exhausted = running_job(attempts=2, started_at=long_ago, heartbeat_at=long_ago)
    alive = running_job(attempts=1, started_at=long_ago, heartbeat_at=timezone.now())
    queued = dispatched_job()
    # when
    recovered = services.jobs_recover()
    # then
    assert [job.id for job in recovered] == [silent.id, exhausted.id]
    statuses = dict(Job.objects.values_list("id", "status"))
    assert statuses[silent.id] == Job.Status.PENDING  # no broker: for the next execute
    assert statuses[exhausted.id] == Job.Status.FAILED
    assert statuses[alive.id] == Job.Status.RUNNING
    assert statuses[queued.id] == Job.Status.QUEUED


def test_recover_honours_a_cancel_asked_while_the_process_was_dead(settings):
    # given a job whose process died after its cancel was asked
    long_ago = timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT + 1)
    orphan = running_job(
        attempts=1, started_at=long_ago, heartbeat_at=long_ago, cancel_requested=True
    )
    # when
    services.jobs_recover()
    # then
    orphan.refresh_from_db()
    assert orphan.status == Job.Status.CANCELLED and orphan.finished_at is not None


def test_with_a_broker_recover_hands_a_silent_job_out_again(
    sent, settings, django_capture_on_commit_callbacks
):
    # given
    long_ago = timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT + 1)
    silent = running_job(attempts=1, started_at=long_ago, heartbeat_at=long_ago)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        services.jobs_recover()
    # then
    silent.refresh_from_db()
    assert silent.status == Job.Status.QUEUED and silent.attempts == 1
    assert sent == [(silent.id, str(silent.dispatch_token), "celery")]


@pytest.mark.parametrize(
    "source, target",
    [
        ("succeeded", "pending"),
        ("pending", "succeeded"),
        ("queued", "failed"),
        ("failed", "running"),
    ],
)
def test_the_table_refuses_a_change_it_does_not_list(source, target):
    # given
    job = Job.objects.create(request_code="user", kind="trim", params={}, status=source)
    # when / then
    with pytest.raises(ValueError, match=f"from {source} to {target}"):
        transitions._move(Job.objects.filter(pk=job.pk), sources=(source,), to=target)
    assert Job.objects.get(pk=job.pk).status == source


def test_without_a_broker_execute_runs_jobs_in_the_request_whatever_wait_says(
    api, uploaded, settings
):
    # given
    settings.CELERY_BROKER_URL = ""
    api.post(
        "/video/process/trim",
        {"request_code": "user", "video_id": uploaded["id"], "trim_start": 0, "trim_end": 500},
        format="json",
    )
    # when
    response = api.post(
        "/video/process/execute", {"request_code": "user", "wait": False}, format="json"
    )
    # then
    assert response.status_code == 200
    assert response.json() == {
        "message": "All pending jobs for request_code user executed successfully"
    }


def test_executing_selected_jobs_with_a_broker_hands_them_to_the_workers(
    sent, django_capture_on_commit_callbacks
):
    # given a pending and a finished job, as the admin's action may select them
    pending = Job.objects.create(request_code="user", kind="trim", params={})
    done = Job.objects.create(
        request_code="user", kind="trim", params={}, status=Job.Status.SUCCEEDED
    )
    # when
    with django_capture_on_commit_callbacks(execute=True):
        jobs = services.jobs_execute_selected(job_ids=[pending.id, done.id])
    # then only the pending one is sent, and nothing ran here
    pending.refresh_from_db()
    assert [job.id for job in jobs] == [pending.id]
    assert sent == [(pending.id, str(pending.dispatch_token), "celery")]
    assert pending.status == Job.Status.QUEUED and pending.attempts == 0
