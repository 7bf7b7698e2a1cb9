"""Running one claimed job: its FFmpeg pipeline under a monitor (progress, heartbeat,
cancel), then its result stored with its Video row, or its failure recorded."""

import contextvars
import logging
import shutil
import threading
import time
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from videoproc import metrics
from videoproc.errors import NO_SPACE_DETAIL, ServiceError, is_no_space
from videos import storage
from videos.engine.media import FFmpegCancelled, FFmpegError, ProbeError, probe_made, run_ffmpeg
from videos.models import Video
from videos.services import video_create, video_files_store

from . import chunks, dependencies
from .kinds import KINDS
from .kinds.base import Result
from .logcontext import job_context
from .models import Job
from .transitions import job_finish

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.5  # seconds between progress writes and cancel checks


class _Monitor:
    """Saves a running job's progress and heartbeat, and reads its cancel flag, at most
    every PROGRESS_INTERVAL seconds."""

    def __init__(self, job: Job):
        self.job = job
        self.last_write = 0.0
        self.last_check = 0.0

    def report(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self.last_write >= PROGRESS_INTERVAL or fraction >= 1:
            self.last_write = now
            Job.objects.filter(pk=self.job.pk, status=Job.Status.RUNNING).update(
                progress=int(fraction * 100), heartbeat_at=timezone.now()
            )

    def should_cancel(self) -> bool:
        now = time.monotonic()
        if now - self.last_check < PROGRESS_INTERVAL:
            return False
        self.last_check = now
        return Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists()

    def run(self, args: list[str], duration: float, span: tuple[float, float] = (0, 1)) -> None:
        """Run one FFmpeg step; its progress fills `span` of the job's (for jobs of
        several steps)."""
        low, high = span
        run_ffmpeg(
            args,
            duration=duration,
            on_progress=lambda fraction: self.report(low + fraction * (high - low)),
            should_cancel=self.should_cancel,
        )

    def encode_in_chunks(self, *, monitor=None, **work) -> bool:
        """Encode in chunks that any worker may take, if the encode is long enough and
        can be split (jobs/chunks.py); False, having done nothing, if not. Its progress
        goes to `monitor` (a share of this one's) if given."""
        return chunks.encode_in_chunks(job=self.job, monitor=monitor or self, **work)


def _scratch_prefix(job: Job) -> str:
    return f"job{job.id}-"


def job_run_attempt(*, job: Job) -> Job:
    """Run a job just claimed, with a heartbeat, after removing what its earlier, dead
    attempts left in scratch on this machine (the claim shut them out for good)."""
    with job_context(job):
        logger.info("started on %s", job.worker)
        if job.queued_at is not None:  # it waited in a worker queue
            metrics.JOB_QUEUED_SECONDS.labels(job.kind).observe(
                (job.started_at - job.queued_at).total_seconds()
            )
        started = time.monotonic()
        for leftover in Path(settings.SCRATCH_DIR).glob(f"{_scratch_prefix(job)}*"):
            shutil.rmtree(leftover, ignore_errors=True)
        with Heartbeat(
            Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, attempts=job.attempts)
        ):
            job = job_run(job=job)
        seconds = time.monotonic() - started
        metrics.JOB_DURATION_SECONDS.labels(job.kind, job.status).observe(seconds)
        _log_outcome(job, seconds)
    return job


def _log_outcome(job: Job, seconds: float) -> None:
    if job.status == Job.Status.SUCCEEDED:
        logger.info("succeeded in %.1f s: video %s", seconds, job.output_video_id)
    elif job.status == Job.Status.RUNNING:  # another attempt took it over meanwhile
        logger.warning("taken over by another attempt after %.1f s", seconds)
    else:
        logger.warning(
            "%s after %.1f s: %s", job.status, seconds, FFmpegError(job.error or "").reason
        )


class Heartbeat(threading.Thread):
    """Keeps the heartbeat of some jobs fresh while this process holds them: a running
    job between FFmpeg's progress reports too (while files are fetched or stored), jobs
    waiting in line in an execute all along, so that only a dead process's jobs ever
    look stale."""

    def __init__(self, jobs: QuerySet):
        super().__init__(name="heartbeat", daemon=True)
        self.jobs = jobs
        self.stopped = threading.Event()
        self.context = contextvars.copy_context()  # its lines name the job too

    def run(self) -> None:
        self.context.run(self._beat)

    def _beat(self) -> None:
        try:
            while not self.stopped.wait(settings.JOB_HEARTBEAT_INTERVAL):
                try:
                    self.jobs.update(heartbeat_at=timezone.now())
                except DatabaseError:  # a passing outage; the next beat may get through
                    logger.warning("heartbeat not saved", exc_info=True)
        finally:
            connections.close_all()  # this thread's own connection

    def __enter__(self) -> "Heartbeat":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        self.join()


def job_run(*, job: Job) -> Job:
    """Run one claimed (running) job to its end and record the outcome.

    Its kind plans it again on the inputs as they are now, by the same check as at queue
    time, then runs the plan. The result is written in a private scratch directory and
    stored only on success, then recorded in one transaction with the job's success (see
    _store_output). A failure is recorded on the row, never raised: the requester's other
    jobs go on.
    """
    attempt = job.attempts
    kind = KINDS[job.kind]
    try:
        params = kind.load(job.params)
        inputs = [dependencies.input_video(ref) for ref in kind.refs(params)]
        plan = kind.check(params, inputs)
        with storage.scratch_dir(_scratch_prefix(job)) as workdir:
            result = kind.run(params, inputs, plan, Path(workdir), _Monitor(job))
            _store_output(job, attempt, result)
    except FFmpegCancelled:
        job_finish(job=job, status=Job.Status.CANCELLED, error="cancelled while running")
    except (FFmpegError, ProbeError, ServiceError) as error:
        metrics.FFMPEG_FAILURES.labels(job.kind).inc()
        job_finish(job=job, status=Job.Status.FAILED, error=str(error) or type(error).__name__)
    except Exception as error:  # a bug or an infrastructure fault: record it, keep going
        if is_no_space(error):  # its scratch directory is gone with what it wrote
            job_finish(job=job, status=Job.Status.FAILED, error=NO_SPACE_DETAIL)
        else:
            logger.exception("crashed")
            job_finish(job=job, status=Job.Status.FAILED, error=f"internal error: {error!r}")
    job.refresh_from_db()
    return job


def _store_output(job: Job, attempt: int, result: Result) -> None:
    """Move the result into storage, record it and mark the job succeeded, all or none."""
    output, stem = result.output, result.stem
    extension = output.suffix[1:]
    try:
        # our own file, read in-process, but a broken result must not be recorded
        probed = probe_made(output, sound_only=result.sound_only)
    except ProbeError as error:
        raise FFmpegError(f"FFmpeg produced no usable video: {error}") from None
    stored = video_files_store(
        path=output,
        name=storage.new_name(storage.MODI, stem, extension),
        probed=probed,
        poster=result.poster,
    )
    try:
        with transaction.atomic():
            current = Job.objects.select_for_update().get(pk=job.pk)
            if current.status != Job.Status.RUNNING or current.attempts != attempt:
                raise FFmpegError(f"job {job.id} was taken over while it ran")
            video = video_create(
                stored=stored,
                kind=Video.Kind.RESULT,
                probed=probed,
                original_name=f"{stem}.{extension}",
                owner_id=job.owner_id,
                **result.info,
            )
            job_finish(
                job=job,
                status=Job.Status.SUCCEEDED,
                output_video=video,
                progress=100,
                outcome=result.outcome,
            )
    except BaseException:
        stored.delete()
        raise
