"""A chunk of a chunked encode with S3 storage (moto's server): the helping worker's
FFmpeg reads its span of the source through a presigned link, with no copy of the whole
source on the worker's disk, and encodes the frames a chunk from a local file holds."""

import dataclasses

import pytest

from conftest import upload
from jobs import chunks
from jobs.models import Job, JobChunk
from jobs.tests.chunk_media import grey_frames, make_source
from videos import storage
from videos.engine import chunks as engine
from videos.engine import pipelines
from videos.engine.media import run_ffmpeg
from videos.models import Video

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

PLAN = pipelines.OutputPlan(
    "mp4", "libx264", "yuv420p", 160, 90, "25/1", None, None, None, high_quality=False
)


def test_a_chunk_reads_its_span_of_an_s3_source_through_a_signed_link(
    api, s3, tmp_path, monkeypatch
):
    # given a 12 s source in the bucket, planned in chunks of 3 s
    source = make_source(tmp_path / "source.mp4", duration=12, size="160x90", keyframe_every=25)
    video = Video.objects.get(pk=upload(api, source).json()[0]["id"])
    planned, _ = engine.plan_chunks(
        source=source, demuxer="mov", plan=PLAN, duration=video.duration, chunk_seconds=3
    )
    assert len(planned) == 4
    job = Job.objects.create(
        request_code="s3", kind="encode", params={}, status=Job.Status.RUNNING, worker="w0"
    )
    work = {
        "video_id": video.id,
        "start": 0.0,
        "end": None,
        "duration": video.duration,
        "plan": dataclasses.asdict(PLAN),
    }
    chunks._prepare(job, planned, work)
    JobChunk.objects.filter(job=job, index=0).update(status=JobChunk.Status.SUCCEEDED)

    # and a worker that may not fetch the source
    def no_copy(name):
        raise AssertionError(f"{name} fetched whole")

    monkeypatch.setattr(storage, "local_path", no_copy)
    # when a helping worker takes the next chunk (a middle one) and encodes it
    chunk = chunks.chunk_take(job_id=job.id, worker="w1")
    chunks.chunk_run(chunk=chunk)
    # then it is stored in the bucket with the frames a chunk from the local file holds
    chunk.refresh_from_db()
    assert (chunk.index, chunk.status, chunk.error) == (1, JobChunk.Status.SUCCEEDED, None)
    assert chunk.output in s3.keys()
    local = tmp_path / "local.mp4"
    run_ffmpeg(
        engine.chunk_args(source=source, demuxer="mov", plan=PLAN, chunk=planned[1], output=local)
    )
    fetched = tmp_path / "fetched.mp4"
    s3.client.download_file(s3.env["AWS_STORAGE_BUCKET_NAME"], chunk.output, str(fetched))
    assert grey_frames(fetched) == grey_frames(local)
    assert len(grey_frames(local)) == planned[1].end_frame - planned[1].first_frame
