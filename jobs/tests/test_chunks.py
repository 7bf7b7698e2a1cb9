"""Chunked encodes in the embedded mode (no broker): a long encode split at keyframes,
its chunks run on this machine's free FFmpeg slots and joined into the single encode's
video; the chunk plan itself; FFMPEG_THREADS."""

from pathlib import Path

import pytest
from django.conf import settings

from conftest import upload
from jobs import chunks as job_chunks
from jobs.models import Job, JobChunk
from jobs.tests.chunk_media import (
    assert_like_single_encode,
    make_source,
    queue_encode,
    single_encode,
)
from videos.engine import chunks, pipelines
from videos.engine.media import with_threads
from videos.engine.tools import configure, tools

pytestmark = pytest.mark.django_db

TARGET = {"resolution": "320:240", "frame_rate": 30}  # a rate change: 25 -> 30 fps


@pytest.fixture
def long_source(tmp_path_factory) -> Path:
    """A minute of small video with a beep at 40 s, made once for the module."""
    folder = tmp_path_factory.mktemp("chunks")
    return make_source(folder / "long.mp4", duration=60, beep_at=40)


def stored_chunks() -> list[Path]:
    return list((Path(settings.MEDIA_ROOT) / "chunks").rglob("*.*"))


def test_a_long_encode_runs_in_chunks_that_join_into_the_single_encode_s_video(
    api, long_source, tmp_path, settings
):
    # given: chunks of 10 s, two FFmpeg slots on this machine
    settings.ENCODE_CHUNK_SECONDS = 10
    settings.FFMPEG_MAX_RUNS = 2
    video = upload(api, long_source).json()[0]
    job_id = queue_encode(api, video["id"], **TARGET)
    # when
    response = api.post("/video/process/execute", {"request_code": "chunks"}, format="json")
    # then
    assert response.status_code == 200, response.content
    state = api.get(f"/video/process/jobs/{job_id}").json()
    assert state["status"] == "succeeded" and state["progress"] == 100
    listed = state["chunks"]
    assert len(listed) == 6
    assert all(c["status"] == "succeeded" and c["attempts"] == 1 for c in listed)
    output = Path(settings.MEDIA_ROOT) / Job.objects.get(pk=job_id).output_video.file.name
    single = single_encode(long_source, tmp_path / "single.mp4", **TARGET)
    assert_like_single_encode(
        output, single, listed, source=long_source, resolution="320:240", rate=30
    )
    # two chunks ran at once (the two slots), and nothing is left behind
    spans = sorted((c.started_at, c.finished_at) for c in JobChunk.objects.filter(job_id=job_id))
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))
    assert stored_chunks() == []
    assert list(Path(settings.SCRATCH_DIR).glob("job*")) == []


def test_a_short_encode_runs_whole(api, uploaded, settings):
    # given a 2 s clip, shorter than two chunks
    settings.ENCODE_CHUNK_SECONDS = 1
    job_id = queue_encode(api, uploaded["id"], **TARGET)
    # when
    api.post("/video/process/execute", {"request_code": "chunks"}, format="json")
    # then
    state = api.get(f"/video/process/jobs/{job_id}").json()
    assert state["status"] == "succeeded" and state["chunks"] == []


def test_a_job_of_two_long_parts_has_a_run_of_chunk_rows_for_each_kept_on_a_new_attempt():
    # given a job whose two parts are each planned in chunks
    job = Job.objects.create(
        request_code="parts", kind="concat", params={}, status=Job.Status.RUNNING
    )
    planned = chunks.split(
        keyframes=[0.0, 10.0, 20.0], duration=30, frame_rate="25/1", chunk_seconds=10
    )
    first, second = ({"video_id": video_id, "start": 0.0} for video_id in (1, 2))
    # when their rows are made, one part after the other
    first_ids = job_chunks._prepare(job, planned, first)
    second_ids = job_chunks._prepare(job, planned, second)
    # then the second part's are numbered on after the first's
    rows = list(JobChunk.objects.filter(job=job))
    assert [(row.index, row.work["video_id"], row.first_frame) for row in rows] == [
        (0, 1, 0),
        (1, 1, 250),
        (2, 1, 500),
        (3, 2, 0),
        (4, 2, 250),
        (5, 2, 500),
    ]
    # and a new attempt of the job keeps each part's own, those it finished too
    JobChunk.objects.filter(pk=first_ids[0]).update(status=JobChunk.Status.FAILED)
    assert job_chunks._prepare(job, planned, first) == first_ids
    assert job_chunks._prepare(job, planned, second) == second_ids
    assert JobChunk.objects.get(pk=first_ids[0]).status == JobChunk.Status.PENDING


def test_chunks_start_at_the_keyframes_nearest_equal_shares():
    # given keyframes every 4 s of a 50 s source, chunks of 10 s asked
    keyframes = [float(t) for t in range(0, 50, 4)]
    # when
    planned = chunks.split(keyframes=keyframes, duration=50, frame_rate="30/1", chunk_seconds=10)
    # then: shares at 10, 20, 30, 40 s -> keyframes 8 (or 12), 20, 28 (or 32), 40
    assert [c.seek for c in planned] == [0.0, 8.0, 20.0, 28.0, 40.0]
    assert [c.first_frame for c in planned] == [0, 240, 600, 840, 1200]
    assert [c.end_frame for c in planned] == [240, 600, 840, 1200, None]


def test_a_source_with_too_few_keyframes_or_too_short_is_not_split():
    assert chunks.split(keyframes=[0.0], duration=100, frame_rate="25/1", chunk_seconds=10) == []
    assert (
        chunks.split(keyframes=[0.0, 5.0], duration=19, frame_rate="25/1", chunk_seconds=10) == []
    )


def test_ffmpeg_threads_holds_decoders_filters_and_encoders_to_the_setting(settings):
    # given
    settings.FFMPEG_THREADS = 1
    assert tools.threads == 1  # the engine's configuration follows the setting
    plan = pipelines.OutputPlan(
        "mp4", "libx264", "yuv420p", 64, 64, "25/1", None, None, None, False
    )
    # when
    args = with_threads(["ffmpeg", "-f", "mov", "-i", "in.mp4", "-c:v", "libx264", "out.mp4"])
    # then
    assert args[args.index("-i") - 2 : args.index("-i")] == ["-threads", "1"]
    assert "-filter_complex_threads" in args
    assert pipelines.video_options(plan)["threads"] == 1


def test_ffmpeg_threads_unset_leaves_ffmpeg_its_own_choice(settings):
    settings.FFMPEG_THREADS = None
    configure(threads=None)
    plan = pipelines.OutputPlan(
        "mp4", "libx264", "yuv420p", 64, 64, "25/1", None, None, None, False
    )
    assert with_threads(["ffmpeg", "-i", "x"]) == ["ffmpeg", "-i", "x"]
    assert "threads" not in pipelines.video_options(plan)
