"""Chunked encodes on the jobs' side: a long encode's chunks (videos/engine/chunks.py) as
JobChunk rows, each a unit of work any worker takes. What is encoded is a span of a
source with the encoder settings (the row's `work`), whichever kind of job asks: an
encode's whole source, a normalised join's or an edit's long re-encoded part.

The job's own run coordinates: it plans the chunks, encodes some itself, has others
help (a Celery message per chunk with a broker; more of this machine's FFmpeg slots
without, while no other execute waits for one), gives back the chunks whose worker
stopped beating, then encodes the sound once and joins. Encoded chunks are kept in
storage (`chunks/`) until the join, so a worker on another machine can hand its chunk
over, and a new attempt of a job whose coordinator died keeps the chunks already made.
Only this module writes a chunk's status.
"""

import dataclasses
import logging
import shutil
import threading
import time
from contextlib import ExitStack
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from kombu.exceptions import OperationalError

from videos import storage
from videos.engine import chunks as engine
from videos.engine.media import (
    FFmpegCancelled,
    FFmpegError,
    ProbeError,
    SignedURL,
    run_ffmpeg,
    without_file_name,
)
from videos.engine.pipelines import OutputPlan
from videos.models import Video

from .models import Job, JobChunk
from .slots import FFmpegBusy, ffmpeg_slot

logger = logging.getLogger(__name__)

Status = JobChunk.Status
RUN_CHUNK_TASK = "jobs.tasks.run_chunk"
FOLDER = "chunks"  # in storage: the encoded chunks of a job, until its join
POLL_INTERVAL = 0.25  # seconds between the coordinator's looks at its chunks
CHECK_INTERVAL = 0.5  # seconds between a chunk's progress writes and cancel checks
JOIN_SHARE = 0.05  # of a job's progress: the sound and the join, after the chunks


def scratch_prefix(job_id: int, index: int) -> str:
    """A chunk's scratch directory: apart from its job's (`job<id>-`), which a new
    attempt of the job removes while helpers may still be encoding."""
    return f"chunk{job_id}-{index}-"


def _distributed() -> bool:
    return bool(settings.CELERY_BROKER_URL)  # as services.distributed()


def _queue(job: Job) -> str:
    return settings.JOB_QUEUES.get(job.kind, settings.JOB_QUEUE_DEFAULT)  # as job_queue_name


def chunk_message_send(job: Job, *, count: int = 1, yielded: bool = False) -> None:
    """Tell `count` workers of the job's queue that a chunk of it waits: each message is
    one worker free for one chunk (any pending one). A lost broker is logged, not
    raised: the coordinator encodes what no worker takes."""
    for _ in range(count):
        try:
            current_app.send_task(
                RUN_CHUNK_TASK, args=(job.id,), kwargs={"yielded": yielded}, queue=_queue(job)
            )
        except OperationalError:
            logger.warning("a chunk message could not be sent; the job's run encodes it")
            return


# -- the chunks' rows ------------------------------------------------------------------


def _prepare(job: Job, planned: list[engine.Chunk], work: dict) -> list[int]:
    """The ids of the job's chunk rows for this plan of this work (a job of several long
    parts has a run of rows for each, numbered on after the others). Those an earlier
    attempt of the job finished are kept (their files are stored) and its failed or
    cancelled ones pend again; a different plan of the same work replaces them."""
    with transaction.atomic():
        rows = list(JobChunk.objects.select_for_update().filter(job=job).order_by("index"))
        existing = [row for row in rows if row.work == work]
        base = existing[0].index if existing else 0
        same = [(c.index - base, c.first_frame, c.seek) for c in existing] == [
            (c.index, c.first_frame, c.seek) for c in planned
        ]
        if same:
            lost = [
                chunk.pk
                for chunk in existing
                if chunk.status == Status.SUCCEEDED
                and not (chunk.output and default_storage.exists(chunk.output))
            ]
            mine = JobChunk.objects.filter(pk__in=[chunk.pk for chunk in existing])
            mine.filter(status__in=(Status.FAILED, Status.CANCELLED)).update(
                status=Status.PENDING, progress=0, error=None
            )
            mine.filter(pk__in=lost).update(status=Status.PENDING, progress=0)
            return [chunk.pk for chunk in existing]
        _discard_files(existing)
        JobChunk.objects.filter(pk__in=[chunk.pk for chunk in existing]).delete()
        others = [row.index for row in rows if row.work != work]
        base = max(others) + 1 if others else 0
        JobChunk.objects.bulk_create(
            JobChunk(
                job=job,
                index=base + chunk.index,
                first_frame=chunk.first_frame,
                end_frame=chunk.end_frame,
                seek=chunk.seek,
                work=work,
            )
            for chunk in planned
        )
        return list(JobChunk.objects.filter(job=job, index__gte=base).values_list("pk", flat=True))


def _take(job: Job, worker: str, among=JobChunk.objects) -> JobChunk | None:
    """Start the first pending chunk of a running job (`among` some of its chunks) here;
    None if none pends."""
    while True:
        chunk = among.filter(job=job, status=Status.PENDING, job__status=Job.Status.RUNNING).first()
        if chunk is None:
            return None
        now = timezone.now()
        taken = JobChunk.objects.filter(pk=chunk.pk, status=Status.PENDING).update(
            status=Status.RUNNING,
            attempts=F("attempts") + 1,
            worker=worker,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
            progress=0,
            error=None,
        )
        if taken:  # else another worker took it first: look again
            chunk.refresh_from_db()
            _sweep(job.pk, f"{chunk.index}-")  # what its dead attempts left here
            return chunk


def _sweep(job_id: int, index: str = "") -> None:
    """Remove this machine's scratch of a job's chunks (of one, with `index`)."""
    for leftover in Path(settings.SCRATCH_DIR).glob(f"chunk{job_id}-{index}*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _finish(chunk: JobChunk, status: str, **fields) -> bool:
    """End a chunk's attempt, unless it was given back or cancelled meanwhile."""
    now = timezone.now()
    return bool(
        JobChunk.objects.filter(pk=chunk.pk, status=Status.RUNNING, attempts=chunk.attempts).update(
            status=status, finished_at=now, heartbeat_at=now, **fields
        )
    )


def chunks_cancel(*, job_id: int) -> int:
    """Stop every chunk of a job: pending ones are not taken, running ones stop within
    a second or two (their runs read this), wherever they run."""
    return JobChunk.objects.filter(
        job_id=job_id, status__in=(Status.PENDING, Status.RUNNING)
    ).update(status=Status.CANCELLED, finished_at=timezone.now())


def chunks_discard(*, job_id: int) -> None:
    """Remove the stored chunks of a job no run holds (cancelled between two attempts,
    its last run lost): a run removes its own at its end."""
    _discard_files(list(JobChunk.objects.filter(job_id=job_id).exclude(output="")))


def _discard_files(chunks: list[JobChunk]) -> None:
    for chunk in chunks:
        if chunk.output:
            default_storage.delete(chunk.output)
            JobChunk.objects.filter(pk=chunk.pk).update(output="")


def _plan(chunk: JobChunk) -> OutputPlan:
    return OutputPlan(**chunk.work["plan"])


def _expected_frames(chunk: JobChunk) -> float:
    if chunk.end_frame is not None:
        return chunk.end_frame - chunk.first_frame
    rate = Fraction(chunk.work["plan"]["frame_rate"])
    return max(1.0, float(chunk.work["duration"] * rate) - chunk.first_frame)


# -- encoding one chunk ------------------------------------------------------------------


def _encode(
    chunk: JobChunk,
    *,
    source: Path | SignedURL,
    demuxer: str,
    output: Path,
    on_progress,
    should_cancel,
) -> int:
    """Encode one chunk's frames into `output` (FFmpeg only, no database); how many it
    holds, which must be what was planned."""
    plan = _plan(chunk)
    planned = engine.Chunk(chunk.index, chunk.first_frame, chunk.end_frame, chunk.seek)
    run_ffmpeg(
        engine.chunk_args(
            source=source,
            demuxer=demuxer,
            plan=plan,
            chunk=planned,
            output=output,
            # chunks planned before spans existed were of the whole source
            start=chunk.work.get("start", 0.0),
            end=chunk.work.get("end"),
        ),
        duration=float(_expected_frames(chunk) / Fraction(plan.frame_rate)),
        on_progress=on_progress,
        should_cancel=should_cancel,
    )
    frames = engine.frame_count(output)
    if chunk.end_frame is not None and frames != chunk.end_frame - chunk.first_frame:
        raise FFmpegError(
            f"chunk {chunk.index} holds {frames} frames, not the "
            f"{chunk.end_frame - chunk.first_frame} planned"
        )
    return frames


def _store(chunk: JobChunk, path: Path, frames: int) -> bool:
    """Keep an encoded chunk for the join and record it; False (and nothing kept) if the
    chunk was given back or cancelled meanwhile."""
    name = storage.store(path, f"{FOLDER}/job{chunk.job_id}/{chunk.index:04d}{path.suffix}")
    if _finish(
        chunk,
        Status.SUCCEEDED,
        output=name,
        end_frame=chunk.first_frame + frames,
        progress=100,
    ):
        return True
    default_storage.delete(name)
    return False


def chunk_take(*, job_id: int, worker: str) -> JobChunk | None:
    """A chunk of a running job for a helping worker to encode, or None."""
    job = Job.objects.filter(pk=job_id, status=Job.Status.RUNNING, cancel_requested=False).first()
    return _take(job, worker) if job else None


def chunk_run(*, chunk: JobChunk) -> None:
    """Encode a chunk taken by a helping worker and store it. It stops when its job is
    cancelled or the chunk given back; a failure is recorded on the chunk, whose job's
    run then fails with it."""
    mine = JobChunk.objects.filter(
        pk=chunk.pk, status=Status.RUNNING, attempts=chunk.attempts, job__cancel_requested=False
    )
    last = {"check": 0.0, "write": 0.0}

    def should_cancel() -> bool:
        now = time.monotonic()
        if now - last["check"] < CHECK_INTERVAL:
            return False
        last["check"] = now
        return not mine.exists()

    def on_progress(fraction: float) -> None:
        now = time.monotonic()
        if now - last["write"] >= CHECK_INTERVAL:
            last["write"] = now
            mine.update(progress=int(fraction * 100), heartbeat_at=timezone.now())

    source = None
    try:
        video = Video.objects.get(pk=chunk.work["video_id"])
        source = _readable(video.file.name)
        with storage.scratch_dir(scratch_prefix(chunk.job_id, chunk.index)) as workdir:
            output = Path(workdir) / f"chunk.{engine.chunk_extension(_plan(chunk))}"
            frames = _encode(
                chunk,
                source=source,
                demuxer=video.demuxer,
                output=output,
                on_progress=on_progress,
                should_cancel=should_cancel,
            )
            _store(chunk, output, frames)
    except FFmpegCancelled:
        _finish(chunk, Status.CANCELLED, error="cancelled while running")
    except (FFmpegError, ProbeError, OSError, Video.DoesNotExist) as error:
        said = without_file_name(str(error), source) if source else str(error)
        _finish(chunk, Status.FAILED, error=said or type(error).__name__)


def _readable(name: str) -> Path | SignedURL:
    """A stored source as a chunk's FFmpeg reads it: the file itself on disk; on S3 a
    presigned link, through which it fetches only what the chunk decodes (range
    requests) rather than a copy of the whole source for every chunk."""
    try:
        return Path(default_storage.path(name))
    except NotImplementedError:  # a remote storage such as S3
        return storage.signed_url(name)


# -- the coordinator: the job's own run ----------------------------------------------------


class _LocalRun:
    """A chunk encoding in a thread of this process: FFmpeg only; the coordinator's
    thread records what it reports. It holds its FFmpeg slot (if any) until it ends."""

    def __init__(self, chunk: JobChunk, *, source: Path, demuxer: str, workdir: Path, slot):
        self.chunk = chunk
        self.slot = slot
        self.progress = 0.0
        self.frames: int | None = None
        self.error: BaseException | None = None
        self.stop = threading.Event()
        extension = engine.chunk_extension(_plan(chunk))
        self.output = workdir / f"encoded{chunk.index:04d}.{extension}"
        self.thread = threading.Thread(
            target=self._run, args=(source, demuxer), name=f"chunk-{chunk.index}", daemon=True
        )
        self.thread.start()

    def _run(self, source: Path, demuxer: str) -> None:
        try:
            self.frames = _encode(
                self.chunk,
                source=source,
                demuxer=demuxer,
                output=self.output,
                on_progress=lambda fraction: setattr(self, "progress", fraction),
                should_cancel=self.stop.is_set,
            )
        except BaseException as error:  # handed to the coordinator, which raises it
            self.error = error
        finally:
            self.slot.close()

    def done(self) -> bool:
        return not self.thread.is_alive()


class _SoundRun:
    """The sound of the whole source encoding in a thread of this process once every
    chunk has been taken (a light run beside the last chunks): off the join's path."""

    def __init__(self, args: list[str], duration: float):
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(args, duration), daemon=True)
        self.thread.start()

    def _run(self, args: list[str], duration: float) -> None:
        try:
            run_ffmpeg(args, duration=duration, should_cancel=self.stop.is_set)
        except BaseException as error:  # handed to the coordinator, which raises it
            self.error = error

    def done(self) -> bool:
        return not self.thread.is_alive()


class _Coordinator:
    def __init__(
        self, job: Job, monitor, rows, *, source: Path, demuxer: str, workdir: Path, sound_args
    ):
        self.job, self.monitor = job, monitor
        self.rows = rows  # this encode's chunks (of all the job's): read with .all(), fresh
        self.source, self.demuxer, self.workdir = source, demuxer, workdir
        self.worker = job.worker
        self.local: dict[int, _LocalRun] = {}
        self.sound_args = sound_args  # (FFmpeg's arguments, duration), or None: no sound
        self.sound: _SoundRun | None = None
        self.last_beat = 0.0

    def run(self) -> None:
        """Until every chunk is encoded, or raise (the chunks then all stopped)."""
        pending = self.rows.filter(status=Status.PENDING).count()
        if _distributed() and pending > 1:
            chunk_message_send(self.job, count=pending - 1)  # the rest: this run's own
        try:
            while not (self._all_done() and self._sound_done()):
                if self.monitor.should_cancel():
                    raise FFmpegCancelled("cancelled")
                self._give_back_stale()
                self._start_local()
                self._start_sound()
                self._report()
                time.sleep(POLL_INTERVAL)
        except BaseException:
            self._stop_all()
            raise

    def _all_done(self) -> bool:
        for run in [run for run in self.local.values() if run.done()]:
            del self.local[run.chunk.pk]
            if run.error is not None:
                _finish(run.chunk, Status.FAILED, error=str(run.error))
                raise run.error
            _store(run.chunk, run.output, run.frames)
            run.output.unlink(missing_ok=True)
        chunks = list(self.rows.all())
        if failed := next((c for c in chunks if c.status == Status.FAILED), None):
            raise FFmpegError(f"chunk {failed.index} failed: {failed.error}")
        if any(chunk.status == Status.CANCELLED for chunk in chunks):
            raise FFmpegCancelled("cancelled")
        return all(chunk.status == Status.SUCCEEDED for chunk in chunks)

    def _start_sound(self) -> None:
        if self.sound_args and self.sound is None:
            if not self.rows.filter(status=Status.PENDING).exists():
                self.sound = _SoundRun(*self.sound_args)

    def _sound_done(self) -> bool:
        if not self.sound_args:
            return True
        if self.sound is None or not self.sound.done():
            return False
        if self.sound.error is not None:
            raise self.sound.error
        return True

    def _give_back_stale(self) -> None:
        """Chunks whose worker stopped beating pend again (for anyone to redo), or fail
        once they used up JOB_MAX_ATTEMPTS: a chunk that kills workers must not loop."""
        cutoff = timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT)
        stale = self.rows.filter(status=Status.RUNNING, heartbeat_at__lt=cutoff).exclude(
            pk__in=list(self.local)
        )
        for chunk in stale:
            if chunk.attempts >= settings.JOB_MAX_ATTEMPTS:
                _finish(
                    chunk,
                    Status.FAILED,
                    error=f"gave up after {chunk.attempts} attempts: its worker was lost each time",
                )
            elif JobChunk.objects.filter(
                pk=chunk.pk, status=Status.RUNNING, attempts=chunk.attempts
            ).update(
                status=Status.PENDING,
                progress=0,
                error=f"given back: its worker ({chunk.worker}) stopped beating",
            ):
                logger.warning("chunk %s given back: %s stopped beating", chunk.index, chunk.worker)
                if _distributed():
                    chunk_message_send(self.job)

    def _start_local(self) -> None:
        """Take pending chunks into this process: one on this run's own slot, more on
        free slots of this machine without a broker while no other execute waits."""
        while True:
            with ExitStack() as slot:
                if self.local:  # this run's own slot is taken
                    if _distributed() or self._others_wait():
                        return
                    try:
                        slot.enter_context(ffmpeg_slot(wait=False))
                    except FFmpegBusy:
                        return
                chunk = _take(self.job, self.worker, self.rows)
                if chunk is None:
                    return
                self.local[chunk.pk] = _LocalRun(
                    chunk,
                    source=self.source,
                    demuxer=self.demuxer,
                    workdir=self.workdir,
                    slot=slot.pop_all(),
                )

    def _others_wait(self) -> bool:
        """Whether another execute's jobs wait in line for a slot here (services.py)."""
        return (
            Job.objects.filter(status=Job.Status.QUEUED, heartbeat_at__isnull=False)
            .exclude(dispatch_token=self.job.dispatch_token)
            .exists()
        )

    def _report(self) -> None:
        """The job's progress sums its chunks'; the local chunks' rows get theirs and a
        heartbeat."""
        now = time.monotonic()
        if now - self.last_beat < CHECK_INTERVAL:
            return
        self.last_beat = now
        for run in self.local.values():
            JobChunk.objects.filter(
                pk=run.chunk.pk, status=Status.RUNNING, attempts=run.chunk.attempts
            ).update(progress=int(run.progress * 100), heartbeat_at=timezone.now())
        chunks = list(self.rows.all())
        total = sum(_expected_frames(chunk) for chunk in chunks)
        done = sum(
            _expected_frames(chunk)
            * (1.0 if chunk.status == Status.SUCCEEDED else chunk.progress / 100)
            for chunk in chunks
        )
        self.monitor.report(done / total * (1 - JOIN_SHARE))

    def _stop_all(self) -> None:
        """Stop every chunk, here and on other workers, and wait for the local ones."""
        chunks_cancel(job_id=self.job.pk)
        if self.sound is not None:
            self.sound.stop.set()
            self.sound.thread.join()
        for run in self.local.values():
            run.stop.set()
        for run in self.local.values():
            run.thread.join()
            run.output.unlink(missing_ok=True)
        self.local.clear()


def encode_in_chunks(
    *,
    job: Job,
    monitor,
    video: Video,
    source: Path,
    plan: OutputPlan,
    output: Path,
    workdir: Path,
    options: dict,
    sound: engine.Sound | None = None,
    start: float = 0.0,
    end: float | None = None,
) -> bool:
    """Encode the picture of `source`'s span [start, end) (both, or neither: the whole)
    to `plan` in chunks on any workers and join them by copy into `output`, written with
    `options`, with `sound` muxed in; False, doing nothing, when the span is short or
    cannot be split, or when its encoded chunks would not join into one stream (then the
    caller encodes it whole). Cancel and failures stop every chunk; stored chunks are
    removed at the end."""
    planned, reason = engine.plan_chunks(
        source=source,
        demuxer=video.demuxer,
        plan=plan,
        duration=video.duration,
        chunk_seconds=settings.ENCODE_CHUNK_SECONDS,
        start=start,
        end=end,
        facts=video.stream_facts,
    )
    if not planned:
        if reason:
            logger.info("encoded whole, not in chunks: %s", reason)
        return False
    length = (video.duration if end is None else end) - start
    work = {
        "video_id": video.id,
        "start": start,
        "end": end,
        "duration": length,
        "plan": dataclasses.asdict(plan),
    }
    rows = JobChunk.objects.filter(pk__in=_prepare(job, planned, work))
    logger.info("encoding in %d chunks", len(planned))
    try:
        _Coordinator(
            job,
            monitor,
            rows,
            source=source,
            demuxer=video.demuxer,
            workdir=workdir,
            sound_args=sound and (sound.args, length),
        ).run()
        joined = _join(
            rows,
            monitor,
            extension=engine.chunk_extension(plan),
            sound=sound and sound.path,
            options=options,
            output=output,
            workdir=workdir,
            duration=length,
        )
        if not joined:
            _discard_files(list(rows))
            rows.delete()  # the job's record lists the chunks its result is made of
    finally:
        _wait_stopped(job)
        _discard_files(list(JobChunk.objects.filter(job=job)))
        _sweep(job.pk)
    return joined


def _wait_stopped(job: Job) -> None:
    """Wait (a few heartbeats at most) until no worker still holds a chunk of the job
    (each stops within a second or two of seeing it cancelled)."""
    deadline = time.monotonic() + 2 * settings.JOB_HEARTBEAT_INTERVAL + 5
    while (
        JobChunk.objects.filter(job=job, status=Status.RUNNING).exists()
        and time.monotonic() < deadline
    ):
        time.sleep(POLL_INTERVAL)


def _join(
    rows,
    monitor,
    *,
    extension: str,
    sound: Path | None,
    options: dict,
    output: Path,
    workdir: Path,
    duration: float,
) -> bool:
    """The chunks (written as `extension`) joined by copy, with the sound (encoded once
    over the whole); False, joining nothing, if their stream headers differ."""
    with ExitStack() as fetched:
        names = []
        for chunk in rows.order_by("index"):
            local = fetched.enter_context(storage.local_path(chunk.output))
            link = workdir / f"chunk{chunk.index:04d}.{extension}"
            link.symlink_to(local)  # the concat demuxer takes plain names beside its list
            names.append(link)
        if reason := engine.header_difference(names):
            logger.warning("encoded whole after all, its chunks not joined: %s", reason)
            return False
        list_file = workdir / engine.LIST_NAME
        list_file.write_text(engine.concat_list(names))
        monitor.run(
            engine.join_args(
                list_file=list_file,
                extension=extension,
                sound=sound,
                options=options,
                output=output,
            ),
            duration,
            span=(1 - JOIN_SHARE, 1),
        )
    return True
