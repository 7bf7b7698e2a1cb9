"""Chunked encodes on real Celery workers over Redis and PostgreSQL: two workers share
one long encode's chunks into the single encode's video; a worker killed mid-chunk costs
only that chunk; a cancel stops every chunk and leaves nothing. One source serves all.
An edit's long normalised segment goes through the same chunks on the workers."""

from pathlib import Path

import pytest
from django.conf import settings

from conftest import upload
from jobs.models import Job, JobChunk
from jobs.tests.chunk_media import (
    BEEP_AT,
    FIRST_FRAMES,
    assert_chunked_like_whole,
    assert_like_single_encode,
    edit_segments,
    make_source,
    make_unlike_sources,
    single_encode,
)
from jobs.tests.integration import ffmpeg_processes, wait_for
from jobs.transitions import UNFINISHED
from videos.models import Video

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

JOB_DEADLINE = 240  # seconds a chunked job may take here, even on a busy machine
WORKER_ENV = {
    "ENCODE_CHUNK_SECONDS": "20",
    "FFMPEG_MAX_RUNS": "2",  # both workers on this machine: a slot each
    "JOB_HEARTBEAT_INTERVAL": "1",
    "JOB_HEARTBEAT_TIMEOUT": "3",
}
# Three chunks that take seconds each (one thread per FFmpeg, 30 fps out of 10): a
# worker can be caught mid-chunk.
SLOW_CHUNKS = {**WORKER_ENV, "ENCODE_CHUNK_SECONDS": "60", "FFMPEG_THREADS": "1"}


@pytest.fixture(scope="module")
def three_minutes(tmp_path_factory) -> Path:
    """3 minutes at 10 fps, a keyframe every 2 s: a third of the frames at 30 fps to
    encode and check, the seams and the rate change (to 12 fps) all the same. Not
    smaller than 320x240: at 160x120 a chunk's opening keyframe is over 1 dB below the
    frames around it, past what the seam check allows."""
    folder = tmp_path_factory.mktemp("source")
    return make_source(folder / "three.mp4", duration=180, rate=10, keyframe_every=20)


def queue_encode(api, video_id: int, resolution: str, frame_rate: float = 30) -> int:
    response = api.post(
        "/video/process/encoding",
        {
            "request_code": "chunks",
            "video_id": video_id,
            "resolution": resolution,
            "frame_rate": frame_rate,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()["job_id"]


def execute(api) -> None:
    response = api.post(
        "/video/process/execute", {"request_code": "chunks", "wait": False}, format="json"
    )
    assert response.status_code == 202, response.content


def finished(api, job_id: int) -> dict:
    return wait_for(
        lambda: (
            (state := api.get(f"/video/process/jobs/{job_id}").json())["status"] not in UNFINISHED
            and state
        ),
        timeout=JOB_DEADLINE,
        what=f"job {job_id} to finish",
        interval=0.25,
    )


def helper_chunk(job_id: int) -> JobChunk | None:
    """A chunk under way on a worker other than the job's own, well into its encode."""
    job = Job.objects.get(pk=job_id)
    return (
        JobChunk.objects.filter(job_id=job_id, status=JobChunk.Status.RUNNING, progress__gte=10)
        .exclude(worker=job.worker)
        .first()
    )


def leftovers() -> list[Path]:
    """Scratch and stored chunks of jobs: there should be none once a job has ended."""
    scratch = Path(settings.SCRATCH_DIR)
    return [
        *scratch.glob("job*"),
        *scratch.glob("chunk*"),
        *(Path(settings.MEDIA_ROOT) / "chunks").rglob("*.*"),
    ]


def test_two_workers_encode_a_long_source_in_chunks_into_the_single_encode_s_video(
    api, three_minutes, start_worker, tmp_path
):
    # given a 3-minute source, chunks of 20 s, two workers
    video = upload(api, three_minutes).json()[0]
    workers = [start_worker(name, **WORKER_ENV) for name in ("a", "b")]
    job_id = queue_encode(api, video["id"], "320:240", frame_rate=12)
    # when
    execute(api)
    state = finished(api, job_id)
    # then
    assert state["status"] == "succeeded", state
    listed = state["chunks"]
    assert len(listed) == 9
    assert all(c["status"] == "succeeded" and c["attempts"] == 1 for c in listed)
    assert {c["worker"].split("@")[0] for c in listed} == {w.name for w in workers}
    output = Path(settings.MEDIA_ROOT) / Video.objects.get(pk=state["output_video_id"]).file.name
    single = single_encode(
        three_minutes, tmp_path / "single.mp4", resolution="320:240", frame_rate=12
    )
    assert_like_single_encode(
        output, single, listed, source=three_minutes, resolution="320:240", rate=12
    )
    assert BEEP_AT == 100.0  # the beep checked in sync is 100 s in, past four seams
    assert leftovers() == []


def test_a_worker_killed_mid_chunk_costs_only_that_chunk(api, three_minutes, start_worker):
    # given chunks that take seconds each
    video = upload(api, three_minutes).json()[0]
    workers = {name: start_worker(name, **SLOW_CHUNKS) for name in ("a", "b")}
    job_id = queue_encode(api, video["id"], "320:240")
    execute(api)
    chunk = wait_for(lambda: helper_chunk(job_id), timeout=JOB_DEADLINE, what="a helper's chunk")
    # when the helper's machine dies: the worker, its pool and its FFmpeg
    workers[chunk.worker.split("@")[0]].kill()
    state = finished(api, job_id)
    # then the job's own worker gave the chunk back and redid it; the others ran once
    assert state["status"] == "succeeded", state
    attempts = {c["index"]: c["attempts"] for c in state["chunks"]}
    assert attempts == {c["index"]: 2 if c["index"] == chunk.index else 1 for c in state["chunks"]}
    assert state["attempts"] == 1
    assert Video.objects.filter(kind=Video.Kind.RESULT).count() == 1
    assert len(list((Path(settings.MEDIA_ROOT) / "modi").glob("*"))) == 1
    assert leftovers() == []


def test_cancel_mid_job_stops_every_chunk_and_leaves_nothing(api, three_minutes, start_worker):
    # given two workers each encoding a chunk
    video = upload(api, three_minutes).json()[0]
    for name in ("a", "b"):
        start_worker(name, **SLOW_CHUNKS)
    job_id = queue_encode(api, video["id"], "320:240")
    execute(api)
    wait_for(lambda: helper_chunk(job_id), timeout=JOB_DEADLINE, what="chunks on both workers")
    # when
    response = api.post(f"/video/process/jobs/{job_id}/cancel")
    # then
    assert response.status_code == 200
    state = finished(api, job_id)
    assert state["status"] == "cancelled", state
    wait_for(
        lambda: ffmpeg_processes(str(settings.MEDIA_ROOT)) == {},
        timeout=5,
        what="every chunk's FFmpeg to stop",
    )
    assert not JobChunk.objects.filter(
        job_id=job_id, status__in=[JobChunk.Status.PENDING, JobChunk.Status.RUNNING]
    ).exists()
    assert not Video.objects.filter(kind=Video.Kind.RESULT).exists()
    wait_for(lambda: leftovers() == [], timeout=5, what="the scratch and chunks to be removed")


def test_workers_encode_an_edit_s_long_normalised_segment_in_chunks(
    api, start_worker, tmp_path, settings
):
    # given the edit of test_chunks_joins.py, on two workers with chunks of 2 s
    ids = [video["id"] for video in upload(api, *make_unlike_sources(tmp_path)).json()]
    for name in ("a", "b"):
        start_worker(name, **{**WORKER_ENV, "ENCODE_CHUNK_SECONDS": "2"})
    body = {"request_code": "chunks", "segments": edit_segments(ids), "normalize": True}
    queued = api.post("/video/process/edit", body, format="json")
    assert queued.status_code == 200, queued.content
    # when it runs there, and again here, never split
    execute(api)
    state = finished(api, queued.json()["job_id"])
    settings.CELERY_BROKER_URL, settings.ENCODE_CHUNK_SECONDS = "", 0
    again = api.post("/video/process/edit", body, format="json").json()["job_id"]
    executed = api.post("/video/process/execute", {"request_code": "chunks"}, format="json")
    assert executed.status_code == 200, executed.content
    # then
    media_root = Path(settings.MEDIA_ROOT)
    outputs = [
        media_root / Job.objects.get(pk=job_id).output_video.file.name
        for job_id in (queued.json()["job_id"], again)
    ]
    assert_chunked_like_whole(state, *outputs, first=FIRST_FRAMES // 2, media_root=media_root)
    assert leftovers() == []
