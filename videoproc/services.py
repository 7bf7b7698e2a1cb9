"""What the page's own endpoints do (videoproc/pages.py): the editor's draft, the timing
of the jobs it watches, and the preview of a trim. They use both apps, so they live here,
above both."""

import hashlib
import json
import os
import subprocess
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

import av
from django.conf import settings
from django.db import transaction

from jobs.kinds import KINDS
from jobs.kinds.trim import Mode
from jobs.models import Job
from videos import storage
from videos.engine import costs, cutscan, smartcut
from videos.models import Timeline, Video

from .models import Draft

# The JSON a draft may take, serialized: the page's segments and settings, not media.
DRAFT_MAX_BYTES = 64 * 1024


def draft_size(data: dict) -> int:
    """A draft's size as stored: compact JSON, in UTF-8 bytes."""
    return len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())


def _draft_key(*, owner, request_code: str | None) -> dict:
    """One draft per user with accounts on; per request code with accounts off."""
    return {"owner": owner} if owner is not None else {"owner": None, "request_code": request_code}


def draft_get(*, owner, request_code: str | None) -> Draft | None:
    return Draft.objects.filter(**_draft_key(owner=owner, request_code=request_code)).first()


def draft_save(*, owner, request_code: str | None, data: dict) -> Draft:
    """Replace the requester's draft (made on the first save)."""
    with transaction.atomic():
        draft, _ = Draft.objects.update_or_create(
            **_draft_key(owner=owner, request_code=request_code), defaults={"data": data}
        )
    return draft


def run_threads() -> int:
    """The cores one FFmpeg run has here: this machine's, shared by the FFMPEG_MAX_RUNS
    runs that may go at once. Costs (CPU-seconds) over this are wall seconds."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // settings.FFMPEG_MAX_RUNS)


def wall_seconds(cpu_seconds: float) -> float:
    """A predicted cost (CPU-seconds) as the wall seconds it takes here."""
    return cpu_seconds / run_threads()


# The page's view of the jobs: its progress bars, its ETAs.
ETA_FROM_PROGRESS = 3  # percent done before the progress says more than the prediction
FINISHED = {Job.Status.SUCCEEDED, Job.Status.FAILED, Job.Status.CANCELLED}
WAITING = {Job.Status.PENDING, Job.Status.QUEUED}


def job_elapsed(job: Job, now: datetime) -> float | None:
    """Seconds it has run (running) or ran (finished); None if it never started."""
    if job.started_at is None:
        return None
    if job.status == Job.Status.RUNNING:
        return max((now - job.started_at).total_seconds(), 0.0)
    if job.status in FINISHED and job.finished_at is not None:
        return max((job.finished_at - job.started_at).total_seconds(), 0.0)
    return None


def job_eta(job: Job, elapsed: float | None) -> float | None:
    """Seconds until it is done: for a running job from its progress once that says
    something, before that (and for a waiting one) from its predicted cost; None for a
    finished one, or when nothing predicts it."""
    if job.status == Job.Status.RUNNING:
        elapsed = elapsed or 0.0
        if job.progress >= ETA_FROM_PROGRESS and elapsed > 0:
            left = elapsed * (100 - job.progress) / job.progress
        else:
            left = wall_seconds(job.cost) - elapsed
        return max(left, 1.0)
    if job.status in WAITING and job.cost > 0:
        return wall_seconds(job.cost)
    return None


# What the page shows of a job, the fields an ETag of the list is made from (not the
# times that pass: now, elapsed, ETA).
SHOWN_FIELDS = [
    "id",
    "status",
    "progress",
    "output_video_id",
    "error",
    "queued_at",
    "started_at",
    "finished_at",
    "attempts",
    "cost",
]
PAGE_JOBS_MAX = 100


def page_jobs(*, owner_jobs, request_code: str | None):
    """The requester's newest PAGE_JOBS_MAX jobs (as a queryset still to be read)."""
    jobs = owner_jobs if request_code is None else owner_jobs.filter(request_code=request_code)
    newest = jobs.order_by("-id").values("id")[:PAGE_JOBS_MAX]
    return jobs.filter(id__in=newest).order_by("id")


def jobs_etag(rows: list[tuple], places: dict[int, int]) -> str:
    """A weak ETag of what the page shows of these jobs (rows of SHOWN_FIELDS)."""
    shown = [[*row, places.get(row[0])] for row in rows]
    digest = hashlib.sha256(json.dumps(shown, default=str).encode()).hexdigest()[:32]
    return f'W/"{digest}"'


# The trim preview: what a trim of a range would copy and re-encode, planned by the code
# the trim job runs (jobs/kinds/trim.py, videos/engine/smartcut.py and cutplan.py).
@dataclass(frozen=True)
class TrimPreview:
    method: str  # what would run: smart, reencode or keyframe
    copy: list[list[float]]  # source spans, ms
    reencode: list[list[float]]
    predicted_seconds: float  # wall seconds here, per the cost model
    note: str | None


# A smart plan needs every packet's timing (the Timeline keeps only the keyframes): the
# scans of the videos last previewed are kept in this process, so that dragging a handle
# plans from memory.
SCANS_KEPT = 8
_scans: OrderedDict[tuple, cutscan.Scan] = OrderedDict()
_scans_lock = threading.Lock()


def video_scan(video: Video) -> cutscan.Scan:
    """The smart cut's scan of a video, from memory when it was read lately."""
    key = (video.id, video.file.name, video.size)
    with _scans_lock:
        if key in _scans:
            _scans.move_to_end(key)
            return _scans[key]
    with storage.local_path(video.file.name) as source:
        found = cutscan.scan(source, video.demuxer, video.stream_facts)
    with _scans_lock:
        _scans[key] = found
        while len(_scans) > SCANS_KEPT:
            _scans.popitem(last=False)
    return found


def _keyframes(video: Video) -> list[float]:
    """The times (s) a keyframe trim may start at: the timeline's, when it is made."""
    timeline = Timeline.objects.filter(video=video, state=Timeline.State.READY).first()
    if timeline is not None:
        return [ms / 1000 for ms in timeline.keyframes_ms]
    return [packet.time for packet in video_scan(video).packets if packet.safe_start]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def trim_preview(*, video: Video, start_ms: float, end_ms: float, mode: str) -> TrimPreview:
    """What a trim job of start_ms..end_ms of the video would copy and re-encode, and how
    long it would take here. Refused (ServiceError) as the trim job would refuse it."""
    trim = KINDS["trim"]
    params = trim.Params(video_id=video.id, trim_start_ms=start_ms, trim_end_ms=end_ms, mode=mode)
    plan = trim.check(params, [video])

    def preview(method, copy, reencode, note=None) -> TrimPreview:
        seconds = sum(end - start for start, end in reencode)
        cpu = costs.reencode_seconds(video, plan.output, seconds) if seconds else 0.0
        return TrimPreview(
            method=method,
            copy=[[_ms(start), _ms(end)] for start, end in copy],
            reencode=[[_ms(start), _ms(end)] for start, end in reencode],
            predicted_seconds=round(wall_seconds(cpu), 2),
            note=note,
        )

    if mode == Mode.KEYFRAME:
        real_start = smartcut.keyframe_at_or_before(_keyframes(video), plan.start)
        note = None
        if plan.start - real_start >= 0.0005:
            note = (
                f"Starts at the keyframe at {real_start:.3f} s, "
                f"{plan.start - real_start:.3f} s before the chosen start: a keyframe trim "
                "copies whole groups of pictures, so it is instant but not frame-exact."
            )
        return preview(Mode.KEYFRAME, [(real_start, plan.end)], [], note)
    whole = [(plan.start, plan.end)]
    if mode == Mode.REENCODE:
        return preview(Mode.REENCODE, [], whole)
    try:
        cut = smartcut.smart_plan(
            video_scan(video),
            demuxer=video.demuxer,
            start=plan.start,
            end=plan.end,
            output_plan=plan.output,
        )
    except (cutscan.NotSmart, av.FFmpegError, subprocess.SubprocessError) as refusal:
        return preview(
            Mode.REENCODE,
            [],
            whole,
            f"A smart trim is not possible here, so the whole range would be re-encoded: "
            f"{refusal}.",
        )
    reencode = []
    if cut.head:
        reencode.append((cut.first, cut.body_start))
    if cut.tail:
        reencode.append((cut.body_end, cut.end))
    return preview(Mode.SMART, [(cut.body_start, cut.body_end)], reencode)
