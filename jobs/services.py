"""Queueing jobs and handing them out: run in the request, or sent to Celery workers.
Every refusal happens here or in the serializers, before any work; running one claimed
job is jobs/runner.py."""

import logging
import os
import socket
import time
import uuid
from contextlib import ExitStack
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from kombu.exceptions import OperationalError
from rest_framework import status

from videoproc.access import scoped
from videoproc.errors import NO_SPACE_DETAIL, ServiceError
from videoproc.webhooks import JOB_QUEUED
from videos.engine.media import FFmpegError
from videos.models import Video

from . import chunks, dependencies, transitions, turns
from .events import job_announce
from .kinds import KINDS
from .logcontext import job_context
from .models import Job, JobChunk
from .runner import Heartbeat, job_run_attempt
from .slots import FFmpegBusy, ffmpeg_slot

logger = logging.getLogger(__name__)

AWAIT_INTERVAL = 0.5  # seconds between looks at jobs handed to workers
TURN_POLL_INTERVAL = 0.25  # seconds between looks for a job's turn in line
RUN_JOB_TASK = "jobs.tasks.run_job"
BUSY_RETRY_AFTER = 30  # seconds; jobs take minutes, and a retry costs only a lock attempt


def _owner_lock(owner) -> None:
    """Inside a transaction: hold the owner's row until it ends, so that two requests of
    one user check and take their limits one after the other (SQLite's transactions
    already take the write lock up front)."""
    if owner is not None:
        get_user_model().objects.select_for_update().filter(pk=owner.pk).exists()


def _active_jobs_check(*, owner) -> None:
    """Refuse (429) a job that would take an owner past USER_MAX_ACTIVE_JOBS unfinished
    ones: one user must not fill the machine's queue for everybody. Under _owner_lock."""
    cap = settings.USER_MAX_ACTIVE_JOBS
    if owner is None or not cap:
        return
    active = Job.objects.filter(owner=owner, status__in=transitions.UNFINISHED).count()
    if active >= cap:
        raise ServiceError(
            f"You have {active} unfinished jobs, the most allowed at once ({cap}): "
            "execute or cancel some first.",
            status.HTTP_429_TOO_MANY_REQUESTS,
        )


def _cost_check(*, cost: float, owner) -> None:
    """Refuse (400) a job predicted to cost more CPU-seconds than JOB_MAX_CPU_SECONDS, or
    than what is left of its owner's USER_DAILY_CPU_SECONDS. Under _owner_lock."""
    if cost > settings.JOB_MAX_CPU_SECONDS:
        raise ServiceError(
            f"This job would take about {cost:,.0f} CPU-seconds of work, more than this "
            f"server allows one job ({settings.JOB_MAX_CPU_SECONDS:,.0f}, JOB_MAX_CPU_SECONDS)."
        )
    if owner is None:
        return  # no accounts, no one to charge
    charged = (
        Job.objects.filter(owner=owner, created_at__gte=timezone.now() - timedelta(days=1))
        .exclude(status=Job.Status.CANCELLED, started_at__isnull=True)
        .aggregate(total=Sum("cost"))["total"]
        or 0
    )
    if charged + cost > settings.USER_DAILY_CPU_SECONDS:
        raise ServiceError(
            f"This job would take about {cost:,.0f} CPU-seconds of work, and your jobs of the "
            f"last 24 hours already took {charged:,.0f} of the "
            f"{settings.USER_DAILY_CPU_SECONDS:,.0f} you have a day (USER_DAILY_CPU_SECONDS): "
            "wait, or cancel jobs that have not started."
        )


def job_queue(*, request_code: str, kind: str, params: dict, owner=None) -> Job:
    """Queue a job of that kind, `params` as its serializer validated them (a video id
    may be {"job_id": N}, a pending job's output): refused here, with the reason, if it
    could not be done or would cost more than its owner may spend. Only the owner's
    videos and jobs, with an owner."""
    job_kind = KINDS[kind]
    typed = job_kind.load(params)
    inputs = dependencies.refs_resolve(
        request_code=request_code, refs=job_kind.refs(typed), owner=owner
    )
    plan = job_kind.check(typed, inputs)
    cost = job_kind.cost(typed, inputs, plan)
    with transaction.atomic():
        _owner_lock(owner)
        _cost_check(cost=cost, owner=owner)
        _active_jobs_check(owner=owner)
        videos = [video for video in inputs if isinstance(video, Video)]
        _inputs_still_there(videos)
        job = Job.objects.create(
            request_code=request_code,
            kind=kind,
            params=job_kind.dump(job_kind.settle(typed, plan)),
            cost=cost,
            owner=owner,
        )
        job.inputs.set(videos)
        job.depends_on.set(dependencies.job_refs(inputs))
        job_announce(job.id, type=JOB_QUEUED)
    return job


def _inputs_still_there(videos: list[Video]) -> None:
    """Inside the queueing transaction: lock the input videos, and refuse (404) if one
    was deleted since it was checked, rather than fail on the missing row at commit."""
    ids = {video.id for video in videos}
    found = set(Video.objects.select_for_update().filter(pk__in=ids).values_list("id", flat=True))
    if gone := sorted(ids - found):
        raise ServiceError(
            f"No video with id {', '.join(map(str, gone))}", status.HTTP_404_NOT_FOUND
        )


def job_queue_name(kind: str) -> str:
    """The Celery queue jobs of this kind are sent to (JOB_QUEUES)."""
    return settings.JOB_QUEUES.get(kind, settings.JOB_QUEUE_DEFAULT)


def distributed() -> bool:
    """Whether jobs go to Celery workers (a broker is configured) or run in the request."""
    return bool(settings.CELERY_BROKER_URL)


def this_process() -> str:
    """Which host and process ran a job, as the job's `worker` records it."""
    return f"{socket.gethostname()} pid {os.getpid()}"


def _dispatch(job_ids) -> list[Job]:
    """Take pending jobs and hand each to a worker queue once the claim is committed (a
    worker must find the row it is sent). They stay queued until a worker starts them.

    Every path that hands jobs to workers comes here: execute, the admin's action and
    recovery. Jobs are sent in id order, those taking another job's output once that
    job has finished; workers then run them in parallel where there are several."""
    token = uuid.uuid4()
    with transaction.atomic():
        jobs = transitions.jobs_queue(job_ids, dispatch_token=token)
        transaction.on_commit(lambda: _send(jobs, token))
    return jobs


def _send(jobs: list[Job], token: uuid.UUID) -> None:
    """Send each job whose inputs are ready; the others are sent as their inputs finish
    (see _release_dependants)."""
    waiting = [job.id for job in jobs if turns.waiting(job)]
    ready = [job for job in jobs if job.id not in waiting]
    for index, job in enumerate(ready):
        try:
            # By name: the task module calls this one, which must not import it back.
            current_app.send_task(
                RUN_JOB_TASK, args=(job.id, str(token)), queue=job_queue_name(job.kind)
            )
        except OperationalError as error:  # no broker: nothing was sent, give them back
            unsent = sorted([other.id for other in ready[index:]] + waiting)
            transitions.jobs_unqueue(unsent, dispatch_token=token)
            raise ServiceError(
                f"The job queue cannot be reached ({error}), so jobs "
                f"{', '.join(map(str, unsent))} are pending again: execute again later.",
                status.HTTP_503_SERVICE_UNAVAILABLE,
            ) from error


def job_run_dispatched(*, job_id: int, dispatch_token: str, worker: str) -> None:
    """What a worker does with a message: a message is a worker free for one job of its
    queue. The same message again means the worker holding it died: its job is taken
    over (or given up). Otherwise the worker starts the queued job whose turn it is on
    that queue (turns.py): job `job_id`, unless another requester's should go first;
    its own turn then comes with a later message. A void message does nothing."""
    with ffmpeg_slot(wait=True):  # a worker has nothing else to do; the jobs stay queued
        job = _start_in_turn(job_id=job_id, dispatch_token=dispatch_token, worker=worker)
        if job is None:
            logger.info("job %s: nothing to do (finished, cancelled or sent again since)", job_id)
        else:
            job_run_attempt(job=job)
    for done in {job_id, job.id if job else job_id}:
        _release_dependants(done)  # also when it was cancelled before it could start


def chunk_run_dispatched(*, job_id: int, worker: str, yielded: bool = False) -> None:
    """What a worker does with a chunk message: it is a worker free for one chunk of job
    `job_id` (any pending one; nothing if none is left or the job ended).

    A chunk is a unit of the fair turns (turns.py counts the workers a requester's chunks
    hold): when another requester's job is queued on this queue and that requester holds
    no more workers than this job's, the message goes once to the back of the queue and
    this worker takes the next message instead, so one user's long encode spreads over
    the free workers without keeping others' jobs waiting for all its chunks."""
    job = Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).first()
    if job is None:
        return
    if not yielded and _chunk_yields(job):
        logger.info("job %s: a chunk gives its turn to another requester's job", job_id)
        chunks.chunk_message_send(job, yielded=True)
        return
    with ffmpeg_slot(wait=True):
        chunk = chunks.chunk_take(job_id=job_id, worker=worker)
        if chunk is None:
            return
        with job_context(job):
            logger.info("chunk %s started on %s", chunk.index, worker)
            mine = JobChunk.objects.filter(
                pk=chunk.pk, status=JobChunk.Status.RUNNING, attempts=chunk.attempts
            )
            with Heartbeat(mine):
                chunks.chunk_run(chunk=chunk)


def _chunk_yields(job: Job) -> bool:
    """Whether a queued job of another requester should have this worker first."""
    queue = job_queue_name(job.kind)
    same_queue = [kind for kind in KINDS if job_queue_name(kind) == queue]
    line = turns.ranked(Job.objects.filter(status=Job.Status.QUEUED, kind__in=same_queue))
    mine = turns.requester(job)
    other = next((queued for queued in line if turns.requester(queued) != mine), None)
    if other is None:
        return False
    held = turns.running_units()
    return held[turns.requester(other)] <= held[mine]


def _start_in_turn(*, job_id: int, dispatch_token: str, worker: str) -> Job | None:
    sent = Job.objects.filter(pk=job_id).first()
    if sent is None or str(sent.dispatch_token) != dispatch_token:
        return None  # void: the job was sent again since, or retried
    if sent.status == Job.Status.RUNNING:  # redelivered: the attempt holding it died
        return transitions.job_start(job_id=job_id, dispatch_token=dispatch_token, worker=worker)
    queue = job_queue_name(sent.kind)
    same_queue = [kind for kind in KINDS if job_queue_name(kind) == queue]
    while head := turns.next_job(Job.objects.filter(status=Job.Status.QUEUED, kind__in=same_queue)):
        job = transitions.job_start(
            job_id=head.id, dispatch_token=str(head.dispatch_token), worker=worker, takeover=False
        )
        if job is not None:
            return job
    return None  # another worker took each one first


def _release_dependants(job_id: int) -> None:
    """Send the dispatched jobs that waited for this one, once all their inputs are done
    (they fail there with the reason if one did not succeed). Two inputs finishing at
    once may both find a dependant ready: a new token, set only while it is still
    queued, voids any earlier message, so it runs once."""
    dependants = Job.objects.filter(depends_on=job_id, status=Job.Status.QUEUED).order_by("id")
    for dependant in dependants:
        if turns.waiting(dependant):
            continue
        token = uuid.uuid4()
        renewed = Job.objects.filter(
            pk=dependant.pk, status=Job.Status.QUEUED, dispatch_token=dependant.dispatch_token
        ).update(dispatch_token=token, queued_at=timezone.now())  # in the queue from now
        if renewed:
            _send([dependant], token)


def jobs_recover() -> list[Job]:
    """Give back jobs whose heartbeat stopped (their worker or server died), running or
    waiting in line in an execute: dispatched again with a broker, pending for the next
    execute without, with the reason; cancelled if that was asked meanwhile; failed once
    they have used up JOB_MAX_ATTEMPTS. Jobs in a worker queue have no heartbeat until a
    worker starts them: untouched. A live process beats for every job it holds, running
    or waiting, so recovery never takes one from it."""
    cutoff = timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT)
    with transaction.atomic():
        stale = list(
            Job.objects.filter(status__in=transitions.HANDED_OUT, heartbeat_at__lt=cutoff)
            .select_for_update(skip_locked=True)
            .order_by("id")
        )
        for job in stale:
            transitions.job_release(job=job)
        if distributed():
            _dispatch([job.id for job in stale])
    if distributed():
        for job in stale:
            _release_dependants(job.id)  # of those that just failed or were cancelled
    for job in stale:
        with job_context(job):
            job.refresh_from_db()
            logger.warning("its process stopped beating: %s now", job.status)
    return stale


def jobs_report_stuck() -> list[Job]:
    """Say on queued jobs that no worker has started within JOB_QUEUED_LIMIT seconds of
    being sent why they may wait (the error shows in the API and the admin; a worker that starts
    one clears it), and log it once; they stay queued for a worker to come."""
    cutoff = timezone.now() - timedelta(seconds=settings.JOB_QUEUED_LIMIT)
    stuck = list(
        Job.objects.filter(
            status=Job.Status.QUEUED,
            queued_at__lt=cutoff,
            error__isnull=True,
            heartbeat_at__isnull=True,  # not waiting in line in an execute
        )
    )
    stuck = [job for job in stuck if not turns.waiting(job)]  # not sent yet
    for job in stuck:
        queue = job_queue_name(job.kind)
        job.error = (
            f"no worker has started it within {settings.JOB_QUEUED_LIMIT:g} s of being "
            f"queued: is a worker serving queue '{queue}' running?"
        )
        Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED, error__isnull=True).update(
            error=job.error
        )
        with job_context(job):
            logger.warning("%s", job.error)
    return stuck


def jobs_execute_selected(*, job_ids: list[int]) -> list[Job]:
    """Run the chosen jobs that are still pending, in id order, whoever asked for them
    (the admin's action); failures are recorded on their rows, as for an execute. With
    a broker they are handed to the workers and returned at once, queued."""
    if distributed():
        return _dispatch(job_ids)
    return _run_in_line(job_ids)


def _run_in_line(job_ids) -> list[Job]:
    """Run jobs in this request, each in its turn (turns.py) for one of this machine's
    FFmpeg slots. They wait queued, with a heartbeat, and each is running only while its
    work runs. When EXECUTE_LINE_LIMIT executes already wait and no slot is free, the
    answer is 503 with Retry-After and nothing is taken: every execute in line holds a
    server thread."""
    job_ids = list(job_ids)
    if not job_ids:
        return []
    if _executes_in_line() >= settings.EXECUTE_LINE_LIMIT and not _slot_free():
        raise ServiceError(
            f"This server is running as many FFmpeg as it may ({settings.FFMPEG_MAX_RUNS}) "
            f"and {settings.EXECUTE_LINE_LIMIT} executes wait in line, so the jobs are still "
            "pending: execute again later.",
            status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(BUSY_RETRY_AFTER)},
        )
    token = uuid.uuid4()
    jobs = transitions.jobs_queue(
        job_ids, dispatch_token=token, heartbeat_at=timezone.now(), worker=this_process()
    )
    waiting = Job.objects.filter(dispatch_token=token, status=Job.Status.QUEUED)
    with Heartbeat(waiting):
        for job in jobs:
            _run_in_turn(job, token)
    return list(Job.objects.filter(pk__in=[job.id for job in jobs]).order_by("id"))


def _executes_in_line() -> int:
    """Executes of this deployment whose next job waits for its turn."""
    line = Job.objects.filter(status=Job.Status.QUEUED, heartbeat_at__isnull=False)
    running = Job.objects.filter(status=Job.Status.RUNNING).values("dispatch_token")
    return line.exclude(dispatch_token__in=running).values("dispatch_token").distinct().count()


def _slot_free() -> bool:
    try:
        with ffmpeg_slot(wait=False):
            return True
    except FFmpegBusy:
        return False


def _run_in_turn(job: Job, token: uuid.UUID) -> None:
    """Wait until it is this job's turn among the executes in line (each offers its next
    job) and a slot is free, then run it; nothing if it was cancelled or given back."""
    while Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).exists():
        offered = _next_of_each_execute()
        if (head := turns.next_job(offered)) and head.id == job.id:
            with ExitStack() as slot:
                try:
                    slot.enter_context(ffmpeg_slot(wait=False))
                except FFmpegBusy:
                    pass
                else:
                    started = transitions.job_start(
                        job_id=job.id,
                        dispatch_token=str(token),
                        worker=this_process(),
                        takeover=False,
                    )
                    if started is not None:
                        job_run_attempt(job=started)
                    return
        time.sleep(TURN_POLL_INTERVAL)


def _next_of_each_execute() -> list[Job]:
    """The job each execute in line offers: its first still queued."""
    line = Job.objects.filter(status=Job.Status.QUEUED, heartbeat_at__isnull=False)
    firsts = {}
    for job in line.order_by("id"):
        firsts.setdefault(job.dispatch_token, job)
    return list(firsts.values())


def jobs_execute(*, request_code: str, wait: bool = True, owner=None) -> list[Job]:
    """Run the requester's pending jobs in id order; 500 naming the ones that failed (a
    cancelled job is not a failure: the caller names it in its answer).
    Request codes are per owner: another user's jobs under the same code are not theirs.

    With a broker they run on workers; with wait=False, or when they have not all
    finished within EXECUTE_WAIT_LIMIT seconds, they are returned still queued or
    running, for the caller to watch. Without one they run here, whatever wait says.
    """
    pending = scoped(Job.objects.all(), owner).filter(
        request_code=request_code, status=Job.Status.PENDING
    )
    job_ids = pending.values_list("id", flat=True)
    jobs = _dispatch(job_ids) if distributed() else _run_in_line(job_ids)
    if not jobs:
        raise ServiceError(f"No pending jobs for the request code '{request_code}'.")
    if not distributed():
        finished = jobs
    elif wait:
        finished = _await(jobs)
    else:
        return jobs
    if any(job.status in transitions.HANDED_OUT for job in finished):
        return finished  # the wait ran out: the caller answers as for wait=False
    failed = [job for job in finished if job.status == Job.Status.FAILED]
    if failed:
        cancelled = [job for job in finished if job.status == Job.Status.CANCELLED]
        raise ServiceError(
            f"{len(failed)} of {len(finished)} jobs for the request code '{request_code}' "
            "failed: "
            + "; ".join(f"job {job.id} ({job.kind}): {_headline(job.error)}" for job in failed)
            + (f"; {cancelled_note(cancelled)}" if cancelled else ""),
            status.HTTP_507_INSUFFICIENT_STORAGE
            if any(job.error == NO_SPACE_DETAIL for job in failed)
            else status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    return finished


def _await(jobs: list[Job]) -> list[Job]:
    """Wait for dispatched jobs by watching their rows, not task results (the row is the
    truth, and a recovered job is finished by another message than the one first sent),
    for at most EXECUTE_WAIT_LIMIT seconds: a request never holds a server thread for
    jobs no worker takes."""
    job_ids = [job.id for job in jobs]
    deadline = time.monotonic() + settings.EXECUTE_WAIT_LIMIT
    while (
        Job.objects.filter(pk__in=job_ids, status__in=transitions.HANDED_OUT).exists()
        and time.monotonic() < deadline
    ):
        time.sleep(AWAIT_INTERVAL)
    return list(Job.objects.filter(pk__in=job_ids).order_by("id"))


def cancelled_note(cancelled: list[Job]) -> str:
    """How an execute's answer names the jobs cancelled while it ran (not failures)."""
    return "cancelled: " + ", ".join(f"job {job.id} ({job.kind})" for job in cancelled)


def _headline(error: str | None) -> str:
    return FFmpegError(error or "").reason


def ownerless_count() -> tuple[int, int]:
    """How many videos and jobs have no owner: made while API_AUTH was off."""
    return (
        Video.objects.filter(owner__isnull=True).count(),
        Job.objects.filter(owner__isnull=True).count(),
    )


def ownerless_assign(*, owner) -> tuple[int, int]:
    """Give every video and job without an owner to `owner`; how many of each. Once
    API_AUTH=required, rows made while it was off are seen by no user but the admins."""
    with transaction.atomic():
        _owner_lock(owner)
        videos = Video.objects.filter(owner__isnull=True).update(owner=owner)
        jobs = Job.objects.filter(owner__isnull=True).update(owner=owner)
    return videos, jobs


def job_get(*, job_id: int, for_update: bool = False, owner=None) -> Job:
    """The job with that id (locked for the transaction, with for_update; only the
    owner's, with an owner), else a 404."""
    jobs = scoped(Job.objects.all(), owner)
    if for_update:
        jobs = jobs.select_for_update()
    job = jobs.filter(pk=job_id).first()
    if job is None:
        raise ServiceError(f"No job with id {job_id}", status.HTTP_404_NOT_FOUND)
    return job


def job_cancel(*, job_id: int, owner=None) -> Job:
    """Cancel a pending or queued job at once (a queued job's message will find it
    cancelled and do nothing); ask a running one to stop (its FFmpeg is killed by the
    runner within a second or two and its partial output removed), and each of its
    chunks, wherever it runs."""
    with transaction.atomic():
        transitions.job_cancel(job=job_get(job_id=job_id, for_update=True, owner=owner))
        chunks.chunks_cancel(job_id=job_id)  # wherever they run, even if its run died
    if distributed():
        _release_dependants(job_id)  # a queued job waiting for its inputs has no message
    job = job_get(job_id=job_id)
    if job.status != Job.Status.RUNNING:
        chunks.chunks_discard(job_id=job_id)  # its run would have; there is none
    return job


def job_retry(*, job_id: int, owner=None) -> Job:
    """Put a failed or cancelled job back in the queue, as if newly asked."""
    with transaction.atomic():
        _owner_lock(owner)
        job = job_get(job_id=job_id, for_update=True, owner=owner)
        _active_jobs_check(owner=owner)
        transitions.job_retry(job=job)
    return job_get(job_id=job_id)
