"""Chained jobs: wherever a video id goes, `{"job_id": N}` may name the output of another
job of the same requester that has not run yet.

At queue time such an input is predicted from its job's plan (codecs, size, rate,
duration), so the checks made on a stored video are made on it too. At run time it is the
video that job produced; if the job failed or was cancelled, its dependants fail with
that reason. A job can only name jobs queued before it and its inputs never change, so
there are no cycles and id order is a dependency order.
"""

from rest_framework import status

from videoproc.access import scoped
from videoproc.errors import ServiceError
from videos.engine.media import FFmpegError
from videos.models import Video

from .kinds import KINDS
from .kinds.base import Input, PlannedVideo
from .models import Job
from .transitions import STANDING


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
    inputs = [planned[ref["job_id"]] if is_job_ref(ref) else found[ref] for ref in refs]
    if sound_only := next((source for source in inputs if not source.video_codec), None):
        raise ServiceError(
            f"{sound_only.label.capitalize()} is sound only (an audio-only encode): trims, "
            "joins, edits and encodes take a video with a picture."
        )
    return inputs


def _planned_output(request_code: str, job_id: int, owner) -> PlannedVideo:
    job = scoped(Job.objects.all(), owner).filter(pk=job_id).first()
    if job is None or job.request_code != request_code:
        raise ServiceError(
            f"Job {job_id} is not a job of the request code '{request_code}': only the "
            "output of your own pending jobs can be named by a job id."
        )
    if job.status != Job.Status.PENDING:
        hint = (
            f"; use its output, video {job.output_video_id}, instead" if job.output_video_id else ""
        )
        raise ServiceError(
            f"Job {job_id} {STANDING[job.status]}: only a pending job's output can be named "
            f"by its job id{hint}."
        )
    return plan_output(job)


def plan_output(job: Job) -> PlannedVideo:
    """What the pending job will produce, from its params and its own inputs, planned by
    its kind as at queue time."""
    kind = KINDS[job.kind]
    params = kind.load(job.params)
    inputs = _inputs_of(job, kind.refs(params))
    return kind.predict(params, inputs, kind.check(params, inputs), job_id=job.id)


def _inputs_of(job: Job, refs: list) -> list[Input]:
    """A pending job's inputs as they stand now: an input job may have run since."""
    inputs = []
    for ref in refs:
        if not is_job_ref(ref):
            video = Video.objects.filter(pk=ref).first()
            if video is None:
                raise ServiceError(f"Video {ref}, an input of job {job.id}, no longer exists.")
            inputs.append(video)
            continue
        upstream = Job.objects.select_related("output_video").get(pk=ref["job_id"])
        inputs.append(upstream.output_video or plan_output(upstream))
    return inputs


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
