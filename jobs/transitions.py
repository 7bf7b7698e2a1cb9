"""Every change of a job's status, and the one table of the changes allowed.

Each change is a filtered update, or is made under the row's lock, so that of two
processes racing for a job (two executes, a worker and recovery, a cancel and a start)
only one wins. Nothing outside this module writes `Job.status`.
"""

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from rest_framework import status as http

from videoproc.errors import ServiceError
from videoproc.webhooks import JOB_QUEUED

from .events import job_announce
from .models import Job

Status = Job.Status

# from → to. pending: queued by a requester; queued: handed to a worker queue, not
# started; running: an attempt is under way (running → running is a new attempt taking
# over a dead one); failed and cancelled go back to pending on retry.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.PENDING: frozenset({Status.QUEUED, Status.RUNNING, Status.CANCELLED}),
    Status.QUEUED: frozenset({Status.RUNNING, Status.PENDING, Status.CANCELLED}),
    Status.RUNNING: frozenset(
        {Status.RUNNING, Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.PENDING}
    ),
    Status.SUCCEEDED: frozenset(),
    Status.FAILED: frozenset({Status.PENDING}),
    Status.CANCELLED: frozenset({Status.PENDING}),
}
UNFINISHED = (Status.PENDING, Status.QUEUED, Status.RUNNING)
HANDED_OUT = (Status.QUEUED, Status.RUNNING)  # what an execute that waits still waits for

NOT_STARTED = "cancelled before it ran"
# How a refusal says where a job stands: "Job 3 has succeeded: ...".
STANDING = {
    Status.PENDING: "is pending",
    Status.QUEUED: "is queued",
    Status.RUNNING: "is running",
    Status.SUCCEEDED: "has succeeded",
    Status.FAILED: "has failed",
    Status.CANCELLED: "was cancelled",
}


def _move(jobs: QuerySet, *, sources: tuple[str, ...], to: str, **fields) -> int:
    """Move those of the jobs that are in one of sources to `to`; how many moved."""
    for source in sources:
        if to not in TRANSITIONS[source]:
            raise ValueError(f"a job may not go from {source} to {to}")
    return jobs.filter(status__in=sources).update(status=to, **fields)


def jobs_queue(job_ids, *, dispatch_token, heartbeat_at=None, worker: str = "") -> list[Job]:
    """Take those of the given jobs that are still pending to queue them, in one
    transaction, and return them in id order: for a worker queue, or (with a heartbeat
    and this process as their worker) to wait in line in this execute. The token makes
    older messages for them void. A reason they were given back keeps showing until
    they start.

    Rows another execute or worker holds are skipped rather than waited for (SKIP LOCKED
    on PostgreSQL; SQLite takes its write lock up front), so a job is taken only once.
    """
    with transaction.atomic():
        taken = list(
            Job.objects.filter(pk__in=list(job_ids), status=Status.PENDING)
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)
        )
        _move(
            Job.objects.filter(pk__in=taken),
            sources=(Status.PENDING,),
            to=Status.QUEUED,
            finished_at=None,
            progress=0,
            cancel_requested=False,
            dispatch_token=dispatch_token,
            queued_at=timezone.now(),
            started_at=None,
            heartbeat_at=heartbeat_at,
            worker=worker,
        )
    return list(Job.objects.filter(pk__in=taken).order_by("id"))


def jobs_unqueue(job_ids, *, dispatch_token) -> int:
    """Give back queued jobs whose message never reached the broker."""
    return _move(
        Job.objects.filter(pk__in=list(job_ids), dispatch_token=dispatch_token),
        sources=(Status.QUEUED,),
        to=Status.PENDING,
        dispatch_token=None,
        queued_at=None,
    )


def job_start(
    *, job_id: int, dispatch_token: str, worker: str, takeover: bool = True
) -> Job | None:
    """Start a queued job on this worker; None when the message is void.

    The same message can arrive again only after the worker holding it died (the broker
    requeues a lost worker's task, or redelivers after the visibility timeout, which is
    longer than any job may run). Its attempt is then dead, so this one takes over,
    unless the job has used up JOB_MAX_ATTEMPTS: a job that kills workers must not loop.
    Without `takeover` only a job still queued starts: one a worker chose from the line
    may have been started by another worker since, alive and running it.
    """
    statuses = HANDED_OUT if takeover else (Status.QUEUED,)
    with transaction.atomic():
        job = (
            Job.objects.select_for_update()
            .filter(pk=job_id, status__in=statuses, dispatch_token=dispatch_token)
            .first()
        )
        if job is None:  # finished, cancelled, or dispatched again since
            return None
        if job.cancel_requested:
            _end(job, to=Status.CANCELLED, error=NOT_STARTED)
            return None
        if job.status == Status.RUNNING and job.attempts >= settings.JOB_MAX_ATTEMPTS:
            _end(job, to=Status.FAILED, error=gave_up(job))
            return None
        now = timezone.now()
        _move(
            Job.objects.filter(pk=job.pk),
            sources=(job.status,),
            to=Status.RUNNING,
            attempts=F("attempts") + 1,
            started_at=now,
            heartbeat_at=now,
            progress=0,
            error=None,
            worker=worker,
        )
        job_announce(job.pk)
    job.refresh_from_db()
    return job


def gave_up(job: Job) -> str:
    return f"gave up after {job.attempts} attempts: the process running it was lost each time"


def _end(job: Job, *, to: str, **fields) -> int:
    now = timezone.now()
    with transaction.atomic():  # the change and its webhook event (jobs/events.py), or neither
        moved = _move(
            Job.objects.filter(pk=job.pk),
            sources=(job.status,),
            to=to,
            finished_at=now,
            heartbeat_at=now,
            **fields,
        )
        if moved:
            job_announce(job.pk)
    return moved


def job_finish(*, job: Job, status: str, **fields) -> bool:
    """End a running attempt (succeeded, failed or cancelled), unless another attempt has
    taken the job over; whether it was still this attempt's to end."""
    now = timezone.now()
    with transaction.atomic():  # the change and its webhook event (jobs/events.py), or neither
        moved = _move(
            Job.objects.filter(pk=job.pk, attempts=job.attempts),
            sources=(Status.RUNNING,),
            to=status,
            finished_at=now,
            heartbeat_at=now,
            **fields,
        )
        if moved:
            job_announce(job.pk)
    return bool(moved)


def job_release(*, job: Job) -> None:
    """Give back a job whose process died (the caller holds its lock), running or waiting
    in line: pending again with the reason and its progress reset, cancelled if that was
    asked meanwhile, failed once it used up its attempts."""
    if job.cancel_requested:
        _end(job, to=Status.CANCELLED, error="cancelled while its process was lost")
    elif job.status == Status.RUNNING and job.attempts >= settings.JOB_MAX_ATTEMPTS:
        _end(job, to=Status.FAILED, error=gave_up(job))
    else:
        doing = "ran" if job.status == Status.RUNNING else "waited in line"
        _move(
            Job.objects.filter(pk=job.pk),
            sources=(job.status,),
            to=Status.PENDING,
            progress=0,
            error=f"given back: the process it {doing} in ({job.worker or 'unknown'}) "
            f"stopped at {job.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC",
            started_at=None,
            heartbeat_at=None,
            dispatch_token=None,
            queued_at=None,
        )


def job_cancel(*, job: Job) -> None:
    """Cancel a job that has not started at once; ask a running one to stop (its runner
    reads the flag). The caller holds the row's lock."""
    if job.status in (Status.PENDING, Status.QUEUED):
        _end(job, to=Status.CANCELLED, error=NOT_STARTED)
    elif job.status == Status.RUNNING:
        Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    else:
        raise ServiceError(
            f"Job {job.id} {STANDING[job.status]}: only pending, queued or running jobs can "
            "be cancelled.",
            http.HTTP_409_CONFLICT,
        )


def job_retry(*, job: Job) -> None:
    """Put a failed or cancelled job back to pending, as if newly asked, with a fresh
    allowance of JOB_MAX_ATTEMPTS. The caller holds the row's lock."""
    if job.status not in (Status.FAILED, Status.CANCELLED):
        raise ServiceError(
            f"Job {job.id} {STANDING[job.status]}: only failed or cancelled jobs can be retried.",
            http.HTTP_409_CONFLICT,
        )
    _move(
        Job.objects.filter(pk=job.pk),
        sources=(job.status,),
        to=Status.PENDING,
        progress=0,
        attempts=0,
        error=None,
        cancel_requested=False,
        started_at=None,
        finished_at=None,
        heartbeat_at=None,
        queued_at=None,
        dispatch_token=None,
    )
    job_announce(job.pk, type=JOB_QUEUED)  # queued again, as if newly asked
