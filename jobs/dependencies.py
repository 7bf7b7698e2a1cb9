"""Chained jobs: wherever a video id goes, `{"job_id": N}` may name the output of another
job of the same requester that has not run yet.

At queue time such an input is predicted from its job's plan (codecs, size, rate,
duration), so the checks made on a stored video are made on it too. At run time it is the
video that job produced; if the job failed or was cancelled, its dependants fail with
that reason. A job can only name jobs queued before it and its inputs never change, so
there are no cycles and id order is a dependency order.
"""

from dataclasses import dataclass
from fractions import Fraction

from rest_framework import status

from videoproc.access import scoped
from videoproc.errors import ServiceError
from videos.engine import pipelines
from videos.engine.media import FFmpegError
from videos.engine.normalize import target_plan
from videos.models import Video

from . import transitions
from .models import Job

UNKNOWN = pipelines.UNDECIDED  # e.g. the profile an encoder picks by itself
# The profile x264 picks by itself for each pixel format an encode may ask for.
X264_DEFAULT_PROFILES = {"yuv420p": "High", "yuvj420p": "High"}


@dataclass(frozen=True)
class PlannedVideo:
    """What a pending job's output will be, as far as its plan tells: the Video fields
    that queue-time checks and plans read."""

    job_id: int
    extension: str
    duration: float
    video_codec: str
    video_profile: str
    width: int
    height: int
    pix_fmt: str
    sample_aspect_ratio: str
    frame_rate: str
    base_frame_rate: str
    rotation: int
    audio_codec: str | None
    audio_sample_rate: int | None
    audio_channels: int | None
    audio_channel_layout: str = UNKNOWN

    @property
    def label(self) -> str:
        return f"the output of job {self.job_id}"

    @property
    def resolution(self) -> str:
        return f"{self.width}:{self.height}"

    @property
    def fps(self) -> float:
        return float(Fraction(self.frame_rate))


Input = Video | PlannedVideo


def planned_from(video: Input, *, job_id: int, **changes) -> PlannedVideo:
    """A job's output that keeps what `video` is, but for `changes`."""
    fields = {
        name: getattr(video, name) for name in PlannedVideo.__dataclass_fields__ if name != "job_id"
    }
    return PlannedVideo(**{**fields, "job_id": job_id, **changes})


def is_job_ref(ref) -> bool:
    return isinstance(ref, dict)


def refs_resolve(*, request_code: str, refs: list, owner=None) -> list[Input]:
    """The inputs named by video ids and job references, in order: stored videos (404
    listing the missing ids) and the planned outputs of this requester's pending jobs
    (400 naming the job that cannot be used); only the owner's, with an owner."""
    video_ids = [ref for ref in refs if not is_job_ref(ref)]
    found = scoped(Video.objects.all(), owner).in_bulk(video_ids)
    missing = [video_id for video_id in video_ids if video_id not in found]
    if missing:
        raise ServiceError(
            f"No video with id {', '.join(map(str, dict.fromkeys(missing)))}",
            status.HTTP_404_NOT_FOUND,
        )
    planned = {}
    for ref in refs:
        if is_job_ref(ref) and ref["job_id"] not in planned:
            planned[ref["job_id"]] = _planned_output(request_code, ref["job_id"], owner)
    return [planned[ref["job_id"]] if is_job_ref(ref) else found[ref] for ref in refs]


def _planned_output(request_code: str, job_id: int, owner) -> PlannedVideo:
    job = scoped(Job.objects.all(), owner).filter(pk=job_id).first()
    if job is None or job.request_code != request_code:
        raise ServiceError(f"Job {job_id} is not a job of request_code {request_code}")
    if job.status != Job.Status.PENDING:
        hint = f": use its output, video {job.output_video_id}" if job.output_video_id else ""
        raise ServiceError(f"Job {job_id} is {job.status}, not pending{hint}")
    return plan_output(job)


def plan_output(job: Job) -> PlannedVideo:
    """What the pending job will produce, from its params and its own inputs."""
    return PLANNERS[job.kind](job)


def _inputs_of(job: Job, refs: list) -> list[Input]:
    """A pending job's inputs as they stand now: an input job may have run since."""
    inputs = []
    for ref in refs:
        if not is_job_ref(ref):
            video = Video.objects.filter(pk=ref).first()
            if video is None:
                raise ServiceError(f"Video {ref}, an input of job {job.id}, no longer exists")
            inputs.append(video)
            continue
        upstream = Job.objects.select_related("output_video").get(pk=ref["job_id"])
        inputs.append(upstream.output_video or plan_output(upstream))
    return inputs


def _plan_trim(job: Job) -> PlannedVideo:
    # A trim keeps its source's codecs, size, rate and container (the contract's rule).
    (source,) = _inputs_of(job, [job.params["video_id"]])
    end_ms = min(job.params["trim_end_ms"], source.duration * 1000)
    return planned_from(
        source, job_id=job.id, duration=(end_ms - job.params["trim_start_ms"]) / 1000
    )


def _plan_concat(job: Job) -> PlannedVideo:
    sources = _inputs_of(job, job.params["video_ids"])
    return _planned_join(job, sources, sum(source.duration for source in sources))


def _plan_edit(job: Job) -> PlannedVideo:
    segments = job.params["segments"]
    sources = _inputs_of(job, [segment["video_id"] for segment in segments])
    duration_ms = sum(
        min(segment["end_ms"], source.duration * 1000) - segment["start_ms"]
        for segment, source in zip(segments, sources, strict=True)
    )
    return _planned_join(job, sources, duration_ms / 1000)


def _planned_join(job: Job, sources: list[Input], duration: float) -> PlannedVideo:
    """A join is like its first input, or like the target it was normalised to."""
    if job.params.get("normalize"):
        plan = target_plan(sources, job.params["normalize"])
        return planned_output_of_plan(
            plan, job_id=job.id, duration=duration, audio_channels=plan.channels
        )
    return planned_from(sources[0], job_id=job.id, duration=duration)


def _plan_encode(job: Job) -> PlannedVideo:
    (source,) = _inputs_of(job, [job.params["video_id"]])
    plan = pipelines.encode_plan(video=source, params=job.params)
    return planned_output_of_plan(
        plan, job_id=job.id, duration=source.duration, audio_channels=source.audio_channels
    )


def planned_output_of_plan(
    plan: pipelines.OutputPlan, *, job_id: int, duration: float, audio_channels: int | None
) -> PlannedVideo:
    """What a re-encode to `plan` produces: square pixels, upright, constant rate."""
    profile = UNKNOWN
    if plan.profile is None and plan.video_encoder == "libx264":
        profile = X264_DEFAULT_PROFILES.get(plan.pix_fmt, UNKNOWN)
    return PlannedVideo(
        job_id=job_id,
        extension=plan.extension,
        duration=duration,
        video_codec=plan.video_codec,
        video_profile=profile,
        width=plan.width,
        height=plan.height,
        pix_fmt=plan.pix_fmt or "",
        sample_aspect_ratio="1:1",
        frame_rate=plan.frame_rate,
        base_frame_rate=plan.frame_rate,
        rotation=0,
        audio_codec=plan.audio_codec,
        audio_sample_rate=(plan.sample_rate or UNKNOWN) if plan.audio_encoder else None,
        audio_channels=(plan.channels or audio_channels) if plan.audio_encoder else None,
    )


PLANNERS = {
    Job.Kind.TRIM: _plan_trim,
    Job.Kind.CONCAT: _plan_concat,
    Job.Kind.ENCODE: _plan_encode,
    Job.Kind.EDIT: _plan_edit,
}


def job_refs(inputs: list[Input]) -> list[int]:
    """The ids of the jobs among the inputs, for the job's depends_on."""
    return sorted({item.job_id for item in inputs if isinstance(item, PlannedVideo)})


def input_video(ref) -> Video:
    """At run time: the stored video a video id or job reference names now. An input job
    that did not succeed fails its dependant, with its reason."""
    if not is_job_ref(ref):
        video = Video.objects.filter(pk=ref).first()
        if video is None:
            raise FFmpegError(f"video {ref} no longer exists")
        return video
    upstream = Job.objects.select_related("output_video").get(pk=ref["job_id"])
    if upstream.status == Job.Status.SUCCEEDED and upstream.output_video is not None:
        return upstream.output_video
    if upstream.status in (Job.Status.FAILED, Job.Status.CANCELLED):
        reason = FFmpegError(upstream.error or "").reason
        raise FFmpegError(f"input job {upstream.id} {upstream.status}: {reason}")
    raise FFmpegError(f"input job {upstream.id} has not run ({upstream.status})")


def waiting(job: Job) -> bool:
    """Whether one of the job's inputs has yet to finish."""
    return job.depends_on.filter(status__in=transitions.UNFINISHED).exists()
