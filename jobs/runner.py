"""Running one claimed job: its FFmpeg pipeline under a monitor (progress, heartbeat,
cancel), then its result stored with its Video row, or its failure recorded."""

import contextvars
import logging
import shutil
import threading
import time
from contextlib import ExitStack
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from videoproc import metrics
from videoproc.errors import NO_SPACE_DETAIL, is_no_space
from videos import storage
from videos.engine import edits, normalize, pipelines, smartcut
from videos.engine.media import FORMATS, FFmpegCancelled, FFmpegError, ProbeError, probe, run_ffmpeg
from videos.models import Video
from videos.services import video_create, video_files_store

from . import dependencies
from .logcontext import job_context
from .models import Job
from .timecodes import format_ms
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


def _output_stem(video: Video, operation: str) -> str:
    return f"{storage.safe_stem(video.original_name or video.file.name)}_{operation}"


def _run_trim(job: Job, workdir: Path, monitor: _Monitor) -> tuple[Path, str, dict]:
    """Cut with the requested method; a smart cut the source does not allow falls back
    to the full re-encode. The params and the result's trim_info say what ran and why."""
    video = dependencies.input_video(job.params["video_id"])
    start = job.params["trim_start_ms"] / 1000
    end = min(job.params["trim_end_ms"] / 1000, video.duration)
    mode = job.params.get("mode", Job.TrimMode.SMART)
    plan = pipelines.trim_plan(video)
    output = workdir / f"output.{plan.extension}"
    with storage.local_path(video.file.name) as source:
        result = None
        if mode == Job.TrimMode.KEYFRAME:
            result = _keyframe_trim(video, source, start, end, output, monitor)
        elif mode == Job.TrimMode.SMART:
            try:
                result = smartcut.smart_cut(
                    source=source,
                    demuxer=video.demuxer,
                    start=start,
                    end=end,
                    output_plan=plan,
                    rotation=video.rotation,
                    workdir=workdir,
                    output=output,
                    runner=monitor,
                )
            except smartcut.NotSmart as refusal:
                result = smartcut.CutResult(method="reencode", reason=str(refusal))
        if result is None or result.method == "reencode":
            args = pipelines.trim_args(
                source=source, demuxer=video.demuxer, start=start, end=end, plan=plan, output=output
            )
            monitor.run(args, end - start)
            result = result or smartcut.CutResult(method="reencode")
    method = {"trim_method": result.method}
    if result.reason:
        method["fallback_reason"] = result.reason
    if result.real_start is not None:
        method["real_start"] = format_ms(round(result.real_start * 1000, 3))
    if result.copied:
        method["copied_ms"] = [format_ms(round(time * 1000, 3)) for time in result.copied]
    Job.objects.filter(pk=job.pk).update(params={**job.params, **method})
    info = {
        "trim_info": {
            "trim_start": round(job.params["trim_start_ms"]),
            "trim_end": round(job.params["trim_end_ms"]),
            "video_id": video.id,
            **method,
        }
    }
    return output, _output_stem(video, "trim"), info


def _keyframe_trim(
    video: Video, source: Path, start: float, end: float, output: Path, monitor: _Monitor
) -> smartcut.CutResult:
    real_start = smartcut.keyframe_before(source, video.demuxer, start)
    args = smartcut.keyframe_args(
        source=source,
        demuxer=video.demuxer,
        start=real_start,
        end=end,
        has_audio=video.audio_codec is not None,
        extension=video.extension,
        output=output,
    )
    monitor.run(args, end - real_start)
    return smartcut.CutResult(method="keyframe", real_start=real_start)


def _run_concat(job: Job, workdir: Path, monitor: _Monitor) -> tuple[Path, str, dict]:
    videos = [dependencies.input_video(video_id) for video_id in job.params["video_ids"]]
    if job.params.get("normalize"):
        return _run_normalized_concat(job, videos, workdir, monitor)
    if reason := pipelines.concat_incompatibility(videos):
        raise FFmpegError(f"the videos can no longer be concatenated: {reason}")
    first = videos[0]
    output = workdir / f"output.{first.extension}"
    part_names = []
    with ExitStack() as stack:
        sources = [stack.enter_context(storage.local_path(v.file.name)) for v in videos]
        # Generated names linked into the job's own directory keep the list file free
        # of user text and let the concat demuxer's safe mode stay on.
        for index, (video, source) in enumerate(zip(videos, sources, strict=True)):
            name = f"part{index}.{video.extension}"
            if first.extension in pipelines.MOV_FAMILY and video.time_base != first.time_base:
                run_ffmpeg(
                    pipelines.retime_args(
                        source=source,
                        demuxer=video.demuxer,
                        timescale=Fraction(first.time_base).denominator,
                        has_audio=video.audio_codec is not None,
                        extension=video.extension,
                        output=workdir / name,
                    ),
                    should_cancel=monitor.should_cancel,
                )
            else:
                (workdir / name).symlink_to(source)
            part_names.append(name)
        list_file = workdir / "parts.ffconcat"
        list_file.write_text(pipelines.concat_list(part_names))
        sounds, sound_plan = None, None
        if first.audio_codec in pipelines.HEADER_BOUND_AUDIO:
            sounds = [_part_sound(workdir / name) for name in part_names]
            sound_plan = pipelines.trim_plan(first)  # the sound as its trims encode it
        monitor.run(
            pipelines.concat_args(
                list_file=list_file,
                demuxers={video.demuxer for video in videos},
                extension=first.extension,
                has_audio=first.audio_codec is not None,
                output=output,
                sounds=sounds,
                sound_plan=sound_plan,
            ),
            sum(video.duration for video in videos),
        )
    return (
        output,
        _output_stem(first, "concat"),
        {"concat_info": {"video_ids": [v.id for v in videos]}},
    )


def _part_sound(path: Path) -> pipelines.PartSound:
    """A concat part as the input of its own sound (pipelines.HEADER_BOUND_AUDIO)."""
    found = probe(path)
    return pipelines.PartSound(path=path, demuxer=found.demuxer, duration=found.duration)


def _run_normalized_concat(
    job: Job, videos: list[Video], workdir: Path, monitor: _Monitor
) -> tuple[Path, str, dict]:
    plan = normalize.target_plan(videos, job.params["normalize"])
    parts = [
        normalize.Part(video=video, name=f"part{index}.{plan.extension}")
        for index, video in enumerate(videos)
    ]
    output = _join_parts(parts, plan, workdir, monitor)
    info = {
        "video_ids": [video.id for video in videos],
        "normalized": {
            "target": normalize.target_info(plan),
            "reencoded": [part.video.id for part in parts if part.reencodes(plan)],
        },
    }
    return output, _output_stem(videos[0], "concat"), {"concat_info": info}


def _join_parts(
    parts: list["normalize.Part"], plan: pipelines.OutputPlan, workdir: Path, monitor: _Monitor
) -> Path:
    """Make each part as the plan says (90% of the progress), then join them by copy
    (Vorbis sound re-encoded once: pipelines.HEADER_BOUND_AUDIO)."""
    total = sum(part.duration for part in parts)
    done = 0.0
    for part in parts:
        with storage.local_path(part.video.file.name) as source:
            share = (done / total * 0.9, (done + part.duration) / total * 0.9)
            monitor.run(
                part.args(source=source, plan=plan, output=workdir / part.name),
                part.duration,
                span=share,
            )
        done += part.duration
    list_file = workdir / "parts.ffconcat"
    list_file.write_text(pipelines.concat_list([part.name for part in parts]))
    output = workdir / f"output.{plan.extension}"
    sounds = None
    if plan.audio_codec in pipelines.HEADER_BOUND_AUDIO:
        sounds = [_part_sound(workdir / part.name) for part in parts]
    monitor.run(
        pipelines.concat_args(
            list_file=list_file,
            demuxers=set(FORMATS[plan.extension].demuxers),
            extension=plan.extension,
            has_audio=plan.audio_encoder is not None,
            output=output,
            sounds=sounds,
            sound_plan=plan,
        ),
        total,
        span=(0.9, 1),
    )
    return output


def _run_edit(job: Job, workdir: Path, monitor: _Monitor) -> tuple[Path, str, dict]:
    videos = [dependencies.input_video(segment["video_id"]) for segment in job.params["segments"]]
    segments = edits.segments_of(job.params, videos)
    normalizing = job.params.get("normalize")
    if normalizing:
        plan = normalize.target_plan(videos, normalizing)
    elif reason := pipelines.concat_incompatibility(videos):
        raise FFmpegError(f"the segments can no longer be joined: {reason}")
    else:
        plan = pipelines.trim_plan(videos[0])
    total = sum(segment.end - segment.start for segment in segments)
    with ExitStack() as stack:
        sources = {
            video.id: stack.enter_context(storage.local_path(video.file.name)) for video in videos
        }
        names, methods, lengths, done = [], [], [], 0.0
        for index, segment in enumerate(segments):
            names.append(f"segment{index}.{plan.extension}")
            share = (0.9 * done / total, 0.9 * (done + segment.end - segment.start) / total)
            methods.append(
                _cut_picture(
                    segment,
                    sources[segment.video.id],
                    plan,
                    bool(normalizing),
                    workdir / names[-1],
                    _Share(monitor, share),
                )
            )
            lengths.append(probe(workdir / names[-1]).duration)
            done += segment.end - segment.start
        list_file = workdir / "segments.ffconcat"
        list_file.write_text(pipelines.concat_list(names))
        output = workdir / f"output.{plan.extension}"
        sounds = [
            (sources[segment.video.id], segment, length)
            for segment, length in zip(segments, lengths, strict=True)
        ]
        monitor.run(
            edits.join_args(
                list_file=list_file,
                extension=plan.extension,
                sounds=sounds,
                plan=plan,
                output=output,
            ),
            total,
            span=(0.9, 1),
        )
    info = {
        "video_ids": [video.id for video in videos],
        "segments": [
            {
                "video_id": segment.video.id,
                "start": round(spec["start_ms"]),
                "end": round(spec["end_ms"]),
                **method,
            }
            for segment, spec, method in zip(segments, job.params["segments"], methods, strict=True)
        ],
    }
    if normalizing:
        info["normalized"] = {"target": normalize.target_info(plan)}
    return output, _output_stem(videos[0], "edit"), {"concat_info": info}


class _Share:
    """A monitor whose steps fill only a share of the job's progress."""

    def __init__(self, monitor: _Monitor, span: tuple[float, float]):
        self.monitor, self.span = monitor, span

    def run(self, args: list[str], duration: float, span: tuple[float, float] = (0, 1)) -> None:
        low, high = self.span
        self.monitor.run(
            args, duration, span=(low + span[0] * (high - low), low + span[1] * (high - low))
        )

    def should_cancel(self) -> bool:
        return self.monitor.should_cancel()


def _cut_picture(
    segment: edits.Segment,
    source: Path,
    plan: pipelines.OutputPlan,
    normalizing: bool,
    output: Path,
    monitor: _Share,
) -> dict:
    """Cut one segment's picture into a part of the join: smart where the source allows
    it, else re-encoded; which method ran (and why not smart, then)."""
    picture = edits.picture_plan(plan)
    video = segment.video
    if normalizing and normalize.video_differs(video, picture):
        monitor.run(
            normalize.part_args(
                source=source,
                video=video,
                plan=picture,
                output=output,
                start=segment.start,
                end=segment.end,
            ),
            segment.end - segment.start,
        )
        return {"method": "normalized"}
    own = replace(edits.picture_plan(pipelines.trim_plan(video)), extension=plan.extension)
    scratch = output.with_name(f"smart-{output.stem}")
    scratch.mkdir()
    try:
        smartcut.smart_cut(
            source=source,
            demuxer=video.demuxer,
            start=segment.start,
            end=segment.end,
            output_plan=own,
            rotation=video.rotation,
            workdir=scratch,
            output=output,
            runner=monitor,
        )
        return {"method": "smart"}
    except smartcut.NotSmart as refusal:
        fallback = {"method": "reencode", "fallback_reason": str(refusal)}
    cut = output.with_name(f"cut-{output.name}")
    monitor.run(
        pipelines.trim_args(
            source=source,
            demuxer=video.demuxer,
            start=segment.start,
            end=segment.end,
            plan=own,
            output=cut,
        ),
        segment.end - segment.start,
    )
    monitor.run(
        edits.in_band_args(
            source=cut, output=output, video_codec=own.video_codec, extension=plan.extension
        ),
        segment.end - segment.start,
    )
    return fallback


def _run_encode(job: Job, workdir: Path, monitor: _Monitor) -> tuple[Path, str, dict]:
    video = dependencies.input_video(job.params["video_id"])
    plan = pipelines.encode_plan(video=video, params=job.params)
    output = workdir / f"output.{plan.extension}"
    with storage.local_path(video.file.name) as source:
        monitor.run(
            pipelines.encode_args(source=source, demuxer=video.demuxer, plan=plan, output=output),
            video.duration,
        )
    info = {
        "encode_info": {
            "video_codec": job.params["video_codec"],
            "audio_codec": job.params["audio_codec"],
            "resolution": job.params["resolution"],
            "frame_rate": job.params["frame_rate"],
            "video_id": video.id,
        }
    }
    return output, _output_stem(video, "encode"), info


RUNNERS = {
    Job.Kind.TRIM: _run_trim,
    Job.Kind.CONCAT: _run_concat,
    Job.Kind.ENCODE: _run_encode,
    Job.Kind.EDIT: _run_edit,
}


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
        with _Heartbeat(job):
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


class _Heartbeat(threading.Thread):
    """Keeps a running job's heartbeat fresh between FFmpeg's progress reports too (while
    files are fetched or stored), so that only a dead attempt ever looks stale."""

    def __init__(self, job: Job):
        super().__init__(name=f"heartbeat-job{job.id}", daemon=True)
        self.job = job
        self.stopped = threading.Event()
        self.context = contextvars.copy_context()  # its lines name the job too

    def run(self) -> None:
        self.context.run(self._beat)

    def _beat(self) -> None:
        try:
            while not self.stopped.wait(settings.JOB_HEARTBEAT_INTERVAL):
                try:
                    Job.objects.filter(
                        pk=self.job.pk, status=Job.Status.RUNNING, attempts=self.job.attempts
                    ).update(heartbeat_at=timezone.now())
                except DatabaseError:  # a passing outage; the next beat may get through
                    logger.warning("heartbeat not saved", exc_info=True)
        finally:
            connections.close_all()  # this thread's own connection

    def __enter__(self) -> "_Heartbeat":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        self.join()


def job_run(*, job: Job) -> Job:
    """Run one claimed (running) job to its end and record the outcome.

    The result is written in a private scratch directory and stored only on success,
    then recorded in one transaction with the job's success (see _store_output). A
    failure is recorded on the row, never raised: the requester's other jobs go on.
    """
    attempt = job.attempts
    monitor = _Monitor(job)
    try:
        with storage.scratch_dir(_scratch_prefix(job)) as workdir:
            output, stem, info = RUNNERS[job.kind](job, Path(workdir), monitor)
            _store_output(job, attempt, output, stem, info)
    except FFmpegCancelled:
        job_finish(job=job, status=Job.Status.CANCELLED, error="cancelled while running")
    except (FFmpegError, ProbeError) as error:
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


def _store_output(job: Job, attempt: int, output: Path, stem: str, info: dict) -> None:
    """Move the result into storage, record it and mark the job succeeded, all or none."""
    extension = output.suffix[1:]
    try:
        probed = probe(output)  # our own file, but a broken result must not be recorded
    except ProbeError as error:
        raise FFmpegError(f"FFmpeg produced no usable video: {error}") from None
    stored = video_files_store(
        path=output, name=storage.new_name(storage.MODI, stem, extension), probed=probed
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
                **info,
            )
            job_finish(job=job, status=Job.Status.SUCCEEDED, output_video=video, progress=100)
    except BaseException:
        stored.delete()
        raise
