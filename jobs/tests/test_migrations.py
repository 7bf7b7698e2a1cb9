"""The data migrations: the queued state named, fallback reasons made sentences."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from jobs.models import Job
from videos.models import Video

BEFORE = [("jobs", "0002_job_dispatch_token")]


@pytest.mark.django_db(transaction=True)
def test_jobs_handed_to_workers_before_the_queued_state_become_queued():
    # given the schema before `queued`, with a job sent to a worker and one it started
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    OldJob = executor.loader.project_state(BEFORE).apps.get_model("jobs", "Job")
    sent = OldJob.objects.create(request_code="user", kind="trim", params={}, status="running")
    started = OldJob.objects.create(
        request_code="user", kind="trim", params={}, status="running", started_at=sent.created_at
    )
    # when
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    # then
    queued = Job.objects.get(pk=sent.pk)
    assert queued.status == Job.Status.QUEUED and queued.queued_at == queued.created_at
    assert Job.objects.get(pk=started.pk).status == Job.Status.RUNNING


@pytest.mark.django_db(transaction=True)
def test_stored_fallback_reasons_become_sentences():
    # given a trim whose reason is FFmpeg's stderr, its result, and an edit's result
    before = [("jobs", "0008_job_cost"), ("videos", "0004_timeline")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    OldJob, OldVideo = apps.get_model("jobs", "Job"), apps.get_model("videos", "Video")
    raw = "a step of the smart cut failed ([libvpx-vp9] Error setting option colorspace)"
    trim = OldJob.objects.create(
        request_code="user", kind="trim", params={}, outcome={"fallback_reason": raw}
    )
    probed = {"container": "mp4", "demuxer": "mov", "duration": 1, "size": 1}
    probed |= {"video_codec": "h264", "width": 2, "height": 2, "frame_rate": "25"}
    trimmed = OldVideo.objects.create(
        file="modi/t.mp4", base_frame_rate="25", trim_info={"fallback_reason": raw}, **probed
    )
    segments = [
        {"video_id": 1, "method": "smart"},
        {"video_id": 1, "method": "reencode", "fallback_reason": "the video is interlaced"},
    ]
    edited = OldVideo.objects.create(
        file="modi/e.mp4", base_frame_rate="25", concat_info={"segments": segments}, **probed
    )
    # when the migrations run
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    # then each reason is a sentence, FFmpeg's words gone
    unmatched = (
        "This video's encoder settings could not be matched, so the whole range was re-encoded."
    )
    assert Job.objects.get(pk=trim.pk).outcome == {"fallback_reason": unmatched}
    assert Video.objects.get(pk=trimmed.pk).trim_info == {"fallback_reason": unmatched}
    assert Video.objects.get(pk=edited.pk).concat_info["segments"][1]["fallback_reason"] == (
        "The video is interlaced, so the whole segment was re-encoded."
    )
